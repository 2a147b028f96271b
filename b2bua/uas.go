package b2bua

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// uasIO is what a uasInvite needs from its owner: to answer on the
// INVITE's transaction and to run timers on the owner's loop. A Call
// provides it; tests provide a fake.
type uasIO interface {
	// respond sends a response to in and returns it.
	respond(in *inbound, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response
	// resend sends a response built before again.
	resend(in *inbound, res *sip.Response)
	// after runs fn on the owner's loop after d.
	after(d time.Duration, fn func()) *time.Timer
}

// uasInvite is earshot's answer to an INVITE it received: the caller's,
// or a supervisor's who dialled in. It sends the final response, keeps a
// 2xx going until the ACK, matches the ACK and remembers whether the
// INVITE was a late offer (no SDP: the answer comes in the ACK). Its
// states and transitions are the table in uas_fsm.go. Owned by the call's
// loop.
type uasInvite struct {
	in    *inbound
	io    uasIO
	state uasState
	// lateOffer: the INVITE had no SDP, so earshot's 2xx carries the offer
	// and the ACK the answer.
	lateOffer bool
	// reliable: the transport retransmits for us (TCP, TLS): the 2xx is
	// sent once.
	reliable bool
	final    *sip.Response // the 2xx, for retransmission
	timer    *time.Timer   // the next retransmission
	giveUp   func()        // what the owner does when the ACK never comes
	rel      reliableProvs // RFC 3262 provisionals (reliable.go)
}

func newUASInvite(in *inbound, io uasIO, transport string) *uasInvite {
	u := &uasInvite{in: in, io: io, lateOffer: len(in.req.Body()) == 0, reliable: sip.IsReliable(transport)}
	u.rel.required = hasTag(in.req, "Require", "100rel")
	return u
}

// fire applies ev to the state table; it reports whether ev was taken.
func (u *uasInvite) fire(ev uasEvent) bool {
	next, ok := uasTransitions[u.state][ev]
	if ok {
		u.state = next
	}
	return ok
}

// answered reports whether a 2xx was sent (acknowledged or not).
func (u *uasInvite) answered() bool { return u.final != nil }

// accept sends the 2xx with body and hdrs and, over UDP, retransmits it
// (RFC 3261 §13.3.1.4: first after T1, the interval doubling up to T2,
// given up 64·T1 after the 2xx, when giveUp runs on the owner's loop).
func (u *uasInvite) accept(body []byte, hdrs []sip.Header, giveUp func()) {
	if !u.fire(uasAccept) {
		return
	}
	u.rel.stop() // a final response ends the provisionals' retransmission
	u.final = u.io.respond(u.in, 200, "OK", body, hdrs...)
	u.giveUp = giveUp
	if !u.reliable {
		u.schedule(sip.T1, 0)
	}
}

// schedule arms the retransmission after interval; elapsed is the time
// since the 2xx. The last wait is cut so that the give-up falls at 64·T1.
func (u *uasInvite) schedule(interval, elapsed time.Duration) {
	interval = min(interval, 64*sip.T1-elapsed)
	u.timer = u.io.after(interval, func() { u.retransmit(interval, elapsed+interval) })
}

// retransmit runs when the timer armed with interval fires, elapsed after
// the 2xx.
func (u *uasInvite) retransmit(interval, elapsed time.Duration) {
	if u.state != uasAccepted {
		return // the ACK (or the end) won the race
	}
	if elapsed >= 64*sip.T1 {
		u.fire(uasTimeout)
		u.giveUp()
		return
	}
	u.fire(uasRetransmit)
	u.io.resend(u.in, u.final)
	u.schedule(min(2*interval, sip.T2), elapsed)
}

// reject sends a final non-2xx, unless a final response went already.
func (u *uasInvite) reject(code int, reason string) {
	if u.fire(uasReject) {
		u.io.respond(u.in, code, reason, nil)
	}
}

// ack takes an ACK with CSeq number cseq and reports whether it is the
// one that acknowledges this INVITE's 2xx (a retransmitted ACK, or the
// ACK of a later re-INVITE, is not).
func (u *uasInvite) ack(cseq uint32) bool {
	if cs := u.in.req.CSeq(); cs == nil || cs.SeqNo != cseq || !u.fire(uasAck) {
		return false
	}
	u.stop()
	return true
}

// end stops everything; the owner ended. It sends nothing: an owner that
// ends before its final response rejects first.
func (u *uasInvite) end() {
	u.fire(uasEnd)
	u.stop()
}

func (u *uasInvite) stop() {
	if u.timer != nil {
		u.timer.Stop()
	}
	u.rel.stop()
}
