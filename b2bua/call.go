package b2bua

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// mailboxSize bounds the events queued for one call; a full mailbox makes
// the SIP handler answer 503 rather than block.
const mailboxSize = 64

// Call is one customer↔agent call: its two legs and its media session.
// Everything but the snapshot is owned by the call's loop goroutine, which
// runs the functions posted to its mailbox one at a time.
type Call struct {
	s       *Server
	id      string
	log     *slog.Logger
	mailbox chan func()
	done    chan struct{}

	// snap is the call's public state, published whole: a snapshot is
	// never changed once stored (update stores a changed copy), so a
	// reader holds it without a lock and one pointer seen twice is the
	// same state (the control plane's list cache relies on it).
	snap atomic.Pointer[CallSnapshot]
	// listed: the call is live in Server.order (guarded by Server.mu;
	// beside snap, which AppendCalls loads with it).
	listed bool
	// feature: an agent-state feature-code call, not a call of the
	// contact centre: no events, not in the call table's listing.
	feature bool
	snapMu  sync.Mutex // serialises update's copy-and-store

	// Owned by the loop.
	route      route
	caller     *leg
	callee     *leg
	ringing    forkSet // the callees being rung (forks.go)
	media      MediaSession
	original   *sip.Request // the INVITE as received (To tagged by earshot), for the 100
	uasTagKey  string       // the caller's Call-ID|From tag in Server.uasTags
	dialogKeys []string     // the keys filed for the call's legs in Server.dialogs
	callerSess callerTimer  // the session timer on the caller's dialog
	calleeSess calleeTimer  // the session timer on the callee's dialog
	xfer       *transfer    // a blind transfer in progress (transfer.go)
	waiting    queueState   // the caller waits in a queue (queue_call.go)
	agentLeg   int          // the leg supervisors treat as the agent (supervision.go)
	ended      bool
	reserved   []string // agents marked busy by this call
	sups       []*supervision
	acks       ackLog // the ACKs sent for 2xx responses, for their retransmissions (reack.go)
}

// callIO is the uasIO and uacIO of a call's legs: messages go out through
// the server, timers and transactions report on the call's loop.
type callIO struct{ c *Call }

func (io callIO) respond(in *inbound, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	return in.respond(io.c.s, code, reason, body, hdrs...)
}
func (io callIO) resend(in *inbound, res *sip.Response)        { in.send(io.c.s, res) }
func (io callIO) after(d time.Duration, fn func()) *time.Timer { return io.c.after(d, fn) }
func (io callIO) contact(transport string) *sip.ContactHeader  { return io.c.s.contact(transport) }
func (io callIO) sendACK(req *sip.Request)                     { io.c.sendACK(req) }
func (io callIO) sendAndForget(req *sip.Request)               { io.c.s.sendAndForget(req) }
func (io callIO) startTx(req *sip.Request, onRes func(*sip.Response), onDone func(error)) (sip.ClientTransaction, error) {
	return io.c.startTx(req, onRes, onDone)
}

// post queues fn on the call's loop. It fails when the call ended or its
// mailbox is full.
func (c *Call) post(fn func()) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.mailbox <- fn:
		return true
	default:
		return false
	}
}

// mailboxRetry is how long a timer event waits before it tries a full
// mailbox again.
const mailboxRetry = 20 * time.Millisecond

// after runs fn on the loop after d. A timer event is never lost to a full
// mailbox (a ring timeout or a session expiry dropped would leave a call
// ringing or hanging forever): it is counted and tried again shortly.
// Stop on the returned timer cancels it until it fires.
func (c *Call) after(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() { c.deliver(fn) })
}

// deliver posts a timer event, retrying while the mailbox is full and the
// call is live.
func (c *Call) deliver(fn func()) {
	if c.post(fn) {
		return
	}
	select {
	case <-c.done:
		return // the call is over: the event is moot
	default:
	}
	c.s.stats.mailboxFull()
	c.log.Warn("call mailbox full: timer event retried", "retry_in", mailboxRetry)
	time.AfterFunc(mailboxRetry, func() { c.deliver(fn) })
}

func (c *Call) run() {
	defer c.s.callsWG.Done()
	growStack()
	for !c.ended {
		fn := <-c.mailbox
		c.safely(fn)
	}
	close(c.done)
}

// safely runs one event; a panic ends this call, never the process.
func (c *Call) safely(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("call event panic", "panic", r)
			if !c.ended {
				c.ended = true
				if c.media != nil {
					_ = c.media.Close()
				}
				c.s.stats.ended(EndError) // before forget, as in end
				c.s.forget(c)
			}
		}
	}()
	fn()
}

// Snapshot returns the call's public state, with an Agents slice of
// its own.
func (c *Call) Snapshot() CallSnapshot {
	s := *c.snap.Load()
	s.Agents = append([]string(nil), s.Agents...)
	return s
}

// update publishes a copy of the call's state changed by fn (nil: an
// event that changes nothing) and tells the observer.
func (c *Call) update(fn func(*CallSnapshot), ev CallEventType) {
	if fn != nil {
		c.snapMu.Lock()
		next := *c.snap.Load()
		fn(&next)
		c.snap.Store(&next)
		c.snapMu.Unlock()
	}
	if c.feature {
		return
	}
	c.s.cfg.Observer.CallEvent(CallEvent{Type: ev, Time: c.s.cfg.Now(), Call: c.Snapshot()})
}

// hangup ends an established or ringing call from earshot's side.
func (c *Call) hangup(reason string) {
	if c.ended {
		return
	}
	if !c.caller.uas.answered() {
		c.fail(487, "Request Terminated", reason)
		return
	}
	c.bye(c.caller)
	c.end(reason)
}

// fail answers the caller's INVITE with an error and ends the call. A
// caller earshot answered itself (to wait in a queue) can no longer get
// a final status: it gets BYE with the status as its Reason (RFC 3326).
func (c *Call) fail(code int, phrase, reason string) {
	if c.caller.uas.answered() {
		c.hangupFor(reason, code, phrase)
		return
	}
	c.caller.uas.reject(code, phrase)
	c.end(reason)
}

// hangupFor ends an answered call with BYE to the caller carrying the SIP
// status why the call ends (RFC 3326 Reason).
func (c *Call) hangupFor(reason string, code int, phrase string) {
	if c.ended {
		return
	}
	req := c.caller.d.newRequest(sip.BYE, c.s.contact(c.caller.d.transport))
	req.AppendHeader(sip.NewHeader("Reason", "SIP;cause="+strconv.Itoa(code)+";text=\""+phrase+"\""))
	c.s.sendAndForget(req)
	c.end(reason)
}

// bye sends BYE on a leg's dialog without waiting for the answer.
func (c *Call) bye(l *leg) {
	if l == nil {
		return
	}
	req := l.d.newRequest(sip.BYE, c.s.contact(l.d.transport))
	c.s.sendAndForget(req)
}

// end releases everything the call holds. The loop stops after it.
func (c *Call) end(reason string) {
	if c.ended {
		return
	}
	c.ended = true
	for _, f := range append(c.ringing.forks, c.ringing.held...) {
		f.uac.abandon() // the loop stops: a CANCEL held for a provisional would never go
	}
	switch x := c.xfer; {
	case x == nil || x.to == nil:
	case x.to.uac != nil:
		x.to.uac.abandon() // a transfer target still ringing
	default:
		c.bye(x.to) // an attended transfer's colleague, being re-INVITEd
	}
	if c.callee != nil && reason != EndCalleeHangup {
		c.bye(c.callee)
	}
	c.caller.uas.end()
	for _, t := range []*time.Timer{c.ringing.timer, c.callerSess.timer, c.calleeSess.timer} {
		if t != nil {
			t.Stop()
		}
	}
	c.endSupervisions(reason)
	if c.media != nil {
		_ = c.media.Close()
	}
	for _, l := range []*leg{c.caller, c.callee} {
		if l != nil && l.offer != nil {
			l.offer.respond(c.s, 487, "Request Terminated", nil)
		}
	}
	c.s.router.Left(c.id, reason)
	// Counted before the call leaves the table: whoever sees the table
	// without it (ActiveCalls, lock-free) finds its outcome counted.
	c.s.stats.ended(reason)
	c.s.forget(c)
	now := c.s.cfg.Now()
	c.update(func(s *CallSnapshot) {
		s.State, s.EndedAt, s.EndReason = StateEnded, now, reason
	}, CallEnded)
	c.log.Info("call ended", "reason", reason)
}
