package b2bua

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Server is earshot's SIP side: registrar, router and the live call table.
type Server struct {
	cfg   Config
	log   *slog.Logger
	dir   *directory
	reg   *registrar
	auth  *digestAuth
	stats *sipStats
	// router decides where group calls go and owns agent availability.
	router Router
	guard  *guard // per-source limits and bans (guard.go)
	// help opens and ends help requests for the help codes; set once by
	// SetHelpDesk (feature_help.go).
	help atomic.Pointer[HelpDesk]
	// notify counts the MESSAGE notifications sent (notify.go).
	notify notifyStats

	sip *endpoint // sockets and the sipgo stack
	// flows are the WebSocket connections signed-in workspace pages
	// opened (websocket.go).
	flows flows

	mu    sync.Mutex // guards the fields below
	calls map[string]*Call
	// order is the listed calls (not feature calls) in the order they
	// were filed: their start order, but for calls that started at the
	// same moment on two goroutines. Ended calls leave it lazily
	// (unlistLocked).
	order     []*Call
	orderGone int                     // ended calls still in order
	sups      map[string]*supervision // live supervisions by id
	// dialogs finds legs by dialog key (Call-ID | our tag), under locks
	// of its own (dialogs.go).
	dialogs *dialogTable
	// uasTags is the To tag earshot gave each INVITE it serves, and its
	// call, by the caller's Call-ID and From tag: for its CANCEL
	// (cancel_tag.go) and to know a merged request (newCall).
	uasTags map[string]uasTag
	closed  bool
	callsWG sync.WaitGroup
	// draining and live mirror, for readers without mu, whether the
	// server is draining and len(calls); both are written under mu, so
	// a reader holding it sees them exact. A new call's first look
	// (admit) reads them without the lock: under a load past the
	// machine's rate, thousands of INVITEs queued on mu for those two
	// words. newCall checks them again under mu before filing the call.
	draining atomic.Bool
	live     atomic.Int64
	// againHooks keeps, for the linger after an INVITE earshot sent
	// was answered 2xx, what answers that 2xx when it comes again
	// (reack.go). Safe for concurrent use; not under mu.
	againHooks *lingering[*againHook]
	// bg runs the goroutines no call waits on (tasks.go); Close stops
	// and waits for them.
	bg *tasks
}

// New builds a server; Listen starts it.
func New(cfg Config) (*Server, error) {
	c := cfg.withDefaults()
	if c.Media == nil {
		return nil, errors.New("b2bua: Config.Media is required")
	}
	s := &Server{
		cfg:     c,
		log:     c.Logger.With("component", "b2bua"),
		dir:     newDirectory(c.Tenants),
		reg:     newRegistrar(c.Registration, c.Now),
		auth:    newDigestAuth(c.Now, c.DigestAlgorithms),
		stats:   newSIPStats(),
		router:  c.Router,
		calls:   map[string]*Call{},
		sups:    map[string]*supervision{},
		dialogs: newDialogTable(),
		uasTags: map[string]uasTag{},
	}
	s.bg = newTasks()
	// sipgo logs unparseable input at error level with the whole message;
	// hostile input must not flood the log, so its records are demoted.
	sipLog := slog.New(demoted{c.Logger.Handler(), func(reason, data string) {
		s.stats.drop(reason)
		if reason == DropUnparseable {
			s.answerUnparseable(data)
		}
	}}).With("component", "sipgo")
	s.guard = newGuard(c.Limits, c.Now, func(ip netip.Addr) bool {
		if c.Limits.LimitTrunks {
			return false
		}
		_, tr := s.dir.trunkFor(ip)
		return tr != nil
	}, s.log, s.stats)
	s.guard.cancelTag = s.uasTag
	linger := time.Duration(transactionLinger.Load())
	s.guard.answers = newAnswered(linger, c.Now, s.stats)
	s.guard.watch = newOverload(c.Overload, c.Now, s.log, linger)
	s.guard.screen = s.screenInvite
	s.againHooks = newLingering[*againHook](linger, c.Now, maxAnswered)
	var err error
	stray := func(r *sip.Response) {
		if s.reackStray(r) || s.ackStray2xx(r) {
			return
		}
		s.stats.drop(DropStrayResponse)
		var callID string
		if h := r.CallID(); h != nil {
			callID = h.Value()
		}
		sipLog.Debug("response matched no transaction", "status", r.StatusCode, "source", r.Source(), "sip_call_id", callID)
	}
	if s.sip, err = newEndpoint(c.UserAgent, c.Host, sipLog, s.guard, stray); err != nil {
		return nil, err
	}
	srv := s.sip.srv
	srv.OnInvite(s.counted(s.onInvite))
	srv.OnAck(s.onAck)
	srv.OnBye(s.counted(s.inDialog))
	srv.OnCancel(s.counted(s.onStrayCancel))
	srv.OnRegister(s.counted(s.onRegister))
	srv.OnOptions(s.counted(s.onOptions))
	srv.OnUpdate(s.counted(s.inDialog))
	srv.OnInfo(s.counted(s.inDialog))
	srv.OnPrack(s.counted(s.inDialog))
	srv.OnRefer(s.counted(s.inDialog))
	srv.OnMessage(s.counted(s.onMessage))
	srv.OnNoRoute(s.counted(s.onUnknownMethod))
	return s, nil
}

const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REGISTER, REFER, MESSAGE"

// Errors returns a channel that yields an error if a listener fails.
func (s *Server) Errors() <-chan error { return s.sip.serveErrs }

// Listen opens the listeners and serves them in the background. The bound
// addresses (with the ports the kernel picked) are returned in order.
func (s *Server) Listen(ls []Listener) ([]string, error) { return s.sip.listen(ls) }

// contact is earshot's own Contact for a transport.
func (s *Server) contact(transport string) *sip.ContactHeader { return s.sip.contact(transport) }

// Drain stops taking new calls (503) and waits until active calls end or
// ctx is done; then it hangs up whatever is left.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.callsWG.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	s.mu.Lock()
	var left []*Call
	for _, c := range s.calls {
		left = append(left, c)
	}
	s.mu.Unlock()
	for _, c := range left {
		c.post(func() { c.hangup(EndShutdown) })
	}
	<-done
}

// Close hangs up every call and closes the transports.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Drain(ctx)
	s.bg.close()
	return s.sip.close()
}

// ActiveCalls is the number of calls in the live call table.
func (s *Server) ActiveCalls() int {
	return int(s.live.Load())
}

// Calls returns copies of the live call table's snapshots, in the
// order of AppendCalls.
func (s *Server) Calls() []CallSnapshot {
	refs := s.AppendCalls(nil)
	out := make([]CallSnapshot, len(refs))
	for i, r := range refs {
		out[i] = *r
		out[i].Agents = append([]string(nil), r.Agents...)
	}
	return out
}

// AppendCalls appends the live call table to dst as pointers to the
// calls' published snapshots, in start order (but for calls that
// started at the same moment: sort if it matters), and returns it. A published snapshot is never
// changed (a call publishes a new one), so the caller reads it without a
// lock, must not modify it or its Agents, and may keep it: the same
// pointer later means the call has not changed.
func (s *Server) AppendCalls(dst []*CallSnapshot) []*CallSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.order {
		if c.listed {
			dst = append(dst, c.snap.Load())
		}
	}
	return dst
}

// unlistLocked takes c out of the listing. The slot stays until ended
// calls are half of order; then order is compacted, in place, keeping
// the order: a copy of the live calls per half of them that end.
func (s *Server) unlistLocked(c *Call) {
	if !c.listed {
		return
	}
	c.listed = false
	s.orderGone++
	if s.orderGone < 64 || 2*s.orderGone < len(s.order) {
		return
	}
	live := s.order[:0]
	for _, o := range s.order {
		if o.listed {
			live = append(live, o)
		}
	}
	clear(s.order[len(live):]) // no ended call kept alive
	s.order, s.orderGone = live, 0
}

// counted wraps a handler to count the request by method. It also keeps a
// bug triggered by one hostile message from taking the process down: the
// SIP stack does not recover handler panics, so a panic becomes a 500.
func (s *Server) counted(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.stats.request(string(req.Method))
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("handler panic", "method", req.Method, "panic", r)
				s.respond(tx, req, 500, "Server Internal Error", nil)
			}
		}()
		if code, reason, hdrs := checkRequest(req); code != 0 {
			s.respond(tx, req, code, reason, nil, hdrs...)
			return
		}
		h(req, tx)
	}
}

// respond answers a request on its transaction and counts the response.
// Every 503 carries Retry-After (RFC 3261 §21.5.4): without it a client
// may retry at once, or — a proxy in front — take the node out for good.
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if code == 503 && res.GetHeader("Retry-After") == nil {
		res.AppendHeader(s.retryAfter())
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "code", code, "err", err)
	}
	s.stats.response(code)
	return res
}

// A draining server answers 503 (with Retry-After): a dispatcher that
// probes with OPTIONS (Kamailio's ds_ping) takes the node out at once
// instead of sending it calls for the whole drain.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.draining.Load() {
		s.respond(tx, req, 503, "Service Unavailable", nil)
		return
	}
	s.respond(tx, req, 200, "OK", nil,
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", "100rel, timer"))
}

// onStrayCancel answers a CANCEL that matched no INVITE transaction.
func (s *Server) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist", nil)
}

// cancelCall hands a CANCEL to the call with this id, if it is still live.
// The INVITE transaction keeps its CANCEL callback for 32 s after the
// call (Timer L); a callback holding the *Call would keep the whole call
// (requests, legs, media session) in the heap that long, and at a few
// thousand calls/s that retained heap is what the garbage collector
// spends its time marking. The id alone keeps nothing alive.
func (s *Server) cancelCall(id string) {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c != nil {
		c.post(c.onCancel)
	}
}

func (s *Server) lookupLeg(req *sip.Request) *leg {
	return s.dialogs.find(dialogKey(req))
}

// onAck routes an ACK for a 2xx to its call. ACKs get no response.
func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	s.stats.request("ACK")
	l := s.lookupLeg(req)
	if l == nil {
		return
	}
	l.call.post(func() { l.call.onAck(l, req) })
}

// inDialog routes BYE, UPDATE, INFO, PRACK and re-INVITE to the call that
// owns the dialog, then waits until the call answered it: sipgo finishes
// the transaction when the handler returns.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	in := newInbound(req, tx)
	if !l.call.post(func() { l.call.onRequest(l, in) }) {
		s.stats.mailboxFull()
		s.respond(tx, req, 503, "Service Unavailable", nil)
		return
	}
	in.wait(s, l.call)
}

// retryAfter is the Retry-After header of earshot's 503s: the configured
// delay, at least one second.
func (s *Server) retryAfter() sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(s.cfg.RetryAfter.Seconds()))))
}
