package b2bua

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// minSE is the smallest session interval earshot accepts (RFC 4028 §5).
const minSE = 90

// supportedExtensions are the option tags earshot implements; a Require of
// anything else gets 420 (RFC 3261 §8.2.2.3).
var supportedExtensions = map[string]bool{"100rel": true, "timer": true}

type routeKind int

const (
	toGroup routeKind = iota
	toUser
	toTrunk
	toSupervise // a feature code: attach the caller to an agent's call
	toConfirm   // an agent-state or help feature code, already applied: confirm it
)

// route is where an initial INVITE goes, decided before the call exists.
type route struct {
	kind      routeKind
	direction Direction
	tenant    *tenantDir
	group     *Group
	number    string // dialled number (business number, extension or external)
	label     string
	priority  int    // the business number's queue priority
	user      string // target extension for toUser
	trunk     *Trunk // source trunk (inbound) or egress trunk (outbound)
	fromTrunk bool
	caller    Party
	callerExt string // the calling user's extension, for calls from users
	mode      Mode   // for toSupervise
}

// onInvite handles every INVITE: in-dialog ones go to their call; initial
// ones are admitted, authenticated, routed, and become a Call.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			s.inDialog(req, tx)
			return
		}
	}
	if s.guard.answers.again(req, tx) {
		return // a retransmission that outran its ACK (answered.again)
	}
	if code, phrase, hdrs := s.admit(req); code != 0 {
		s.respond(tx, req, code, phrase, nil, hdrs...)
		return
	}
	rt, code, phrase, hdrs := s.classify(req)
	if code != 0 {
		s.respond(tx, req, code, phrase, nil, hdrs...)
		return
	}
	if rt.kind == toSupervise {
		s.dialIn(rt, req, tx)
		return
	}
	c, code := s.newCall(rt, req, tx)
	if code != 0 {
		s.respond(tx, req, code, reasonPhrase(code), nil)
		return
	}
	c.caller.uas.in.wait(s, c)
}

// admit applies the checks that need no routing: extensions, session
// interval, overload and shutdown.
func (s *Server) admit(req *sip.Request) (int, string, []sip.Header) {
	for _, h := range req.GetHeaders("Require") {
		for _, tag := range strings.Split(h.Value(), ",") {
			tag = strings.TrimSpace(tag)
			if tag != "" && !supportedExtensions[tag] {
				return 420, "Bad Extension", []sip.Header{sip.NewHeader("Unsupported", tag)}
			}
		}
	}
	if mf := req.MaxForwards(); mf != nil && *mf == 0 {
		return 483, "Too Many Hops", nil // a loop (hops.go)
	}
	if se, ok := sessionExpires(req); ok && se < minSE {
		return 422, "Session Interval Too Small", []sip.Header{sip.NewHeader("Min-SE", strconv.Itoa(minSE))}
	}
	switch {
	case s.draining.Load():
		s.stats.loadRefuse(LoadDraining)
	case int(s.live.Load()) >= s.cfg.MaxCalls:
		s.stats.loadRefuse(LoadMaxCalls)
	case s.guard.watch.shed():
		s.stats.loadRefuse(LoadBehind)
	default:
		return 0, "", nil
	}
	return 503, "Service Unavailable", []sip.Header{s.retryAfter()}
}

// sessionExpiresHeader is Session-Expires (or its compact form x), or nil.
func sessionExpiresHeader(m interface{ GetHeader(string) sip.Header }) sip.Header {
	if h := m.GetHeader("Session-Expires"); h != nil {
		return h
	}
	return m.GetHeader("x")
}

// sessionExpires reads the Session-Expires delta-seconds.
func sessionExpires(m interface{ GetHeader(string) sip.Header }) (int, bool) {
	return deltaSeconds(sessionExpiresHeader(m))
}

// deltaSeconds reads a positive "delta-seconds *(;param)" header value
// (Session-Expires, Min-SE).
func deltaSeconds(h sip.Header) (int, bool) {
	if h == nil {
		return 0, false
	}
	v, _, _ := strings.Cut(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// classify finds the tenant, authenticates and routes an initial INVITE.
func (s *Server) classify(req *sip.Request) (route, int, string, []sip.Header) {
	num := req.Recipient.User
	from := req.From()
	if from == nil || req.To() == nil || req.CallID() == nil || req.Contact() == nil {
		return route{}, 400, "Bad Request", nil
	}
	caller := Party{Number: from.Address.User, Name: from.DisplayName}

	if src, err := netip.ParseAddrPort(req.Source()); err == nil {
		if ts := s.dir.trunksFor(src.Addr()); len(ts) > 0 {
			headerValue := ""
			if name := s.cfg.TenantHeader; name != "" {
				if h := req.GetHeader(name); h != nil {
					headerValue = strings.TrimSpace(h.Value())
				}
			}
			pick := pickTenant(ts, num, req.Recipient.Host, headerValue)
			if pick == nil {
				// Several tenants behind one SBC and nothing says whose
				// call this is.
				return route{}, 404, "Not Found", nil
			}
			td, tr := pick.tenant, pick.trunk
			rt := route{direction: Inbound, tenant: td, trunk: tr, fromTrunk: true, number: num, caller: caller}
			if nr, ok := td.numbers[num]; ok {
				rt.kind, rt.group, rt.label, rt.priority = toGroup, nr.group, nr.label, nr.priority
				return rt, 0, "", nil
			}
			if _, ok := td.users[num]; ok {
				rt.kind, rt.user = toUser, num
				return rt, 0, "", nil
			}
			return route{}, 404, "Not Found", nil
		}
	}

	td := s.dir.tenantForDomain(from.Address.Host)
	if td == nil {
		return route{}, 403, "Forbidden", nil
	}
	u, ok := td.users[from.Address.User]
	if !ok {
		return route{}, 403, "Forbidden", nil
	}
	// earshot is the UAS of the caller's dialog, so it challenges with 401
	// like any user agent server (RFC 3261 §22.2), not 407.
	switch s.verifyUser(req, td.name, u.Extension, u.Password) {
	case authMissing:
		return route{}, 401, "Unauthorized", s.auth.challenges("WWW-Authenticate", td.name, false)
	case authStale:
		return route{}, 401, "Unauthorized", s.auth.challenges("WWW-Authenticate", td.name, true)
	case authFailed:
		s.authFailed(req)
		return route{}, 403, "Forbidden", nil
	}
	if caller.Name == "" {
		caller.Name = u.Name
	}
	rt := route{direction: Internal, tenant: td, number: num, caller: caller, callerExt: u.Extension}
	switch {
	case num == "":
		return route{}, 404, "Not Found", nil
	case strings.HasPrefix(num, "*"):
		if rt, code, phrase, ok := s.classifyHelpCode(rt, u); ok {
			return rt, code, phrase, nil
		}
		if rt, code, phrase, ok := s.classifyAgentCode(rt, u); ok {
			return rt, code, phrase, nil
		}
		rt, code, phrase := s.classifyFeature(rt, u)
		return rt, code, phrase, nil
	case num == u.Extension:
		return route{}, 486, "Busy Here", nil
	}
	if nr, ok := td.numbers[num]; ok {
		rt.kind, rt.group, rt.label, rt.priority = toGroup, nr.group, nr.label, nr.priority
		return rt, 0, "", nil
	}
	if _, ok := td.users[num]; ok {
		rt.kind, rt.user = toUser, num
		return rt, 0, "", nil
	}
	if len(td.trunks) == 0 {
		return route{}, 404, "Not Found", nil
	}
	rt.kind, rt.direction, rt.trunk = toTrunk, Outbound, td.trunks[0]
	return rt, 0, "", nil
}

// newCall registers a call in the table and starts its loop. It fails with
// 503 if the limit was reached meanwhile, and with 482 for a merged request
// (RFC 3261 §8.2.2.2): the INVITE of a call in progress — same Call-ID,
// From tag and CSeq — come again by another path (a forking proxy, a
// loop), not a retransmission (the transaction layer absorbs those).
func (s *Server) newCall(rt route, req *sip.Request, tx sip.ServerTransaction) (*Call, int) {
	id := uuid.NewString()
	c := &Call{
		agentLeg: LegCallee,
		s:        s,
		id:       id,
		log:      s.log.With("call_id", id),
		mailbox:  make(chan func(), mailboxSize),
		done:     make(chan struct{}),
		route:    rt,
		ringing:  forkSet{tried: map[string]bool{}},
		original: req,
		feature:  rt.kind == toConfirm,
	}
	snap := &CallSnapshot{
		ID: id, Tenant: rt.tenant.name, Direction: rt.direction, Number: rt.number, Label: rt.label,
		Caller: rt.caller, Callee: Party{Number: rt.number}, State: StateRinging, StartedAt: s.cfg.Now(),
		SessionID: sessionID(req), CallerCallID: req.CallID().Value(),
	}
	if rt.group != nil {
		snap.Group = rt.group.Name
	}
	if rt.callerExt != "" {
		snap.Agents = []string{rt.callerExt} // the agent who placed the call
	}
	c.snap.Store(snap)
	// Every response on the caller's dialog is built from this copy of the
	// INVITE, whose To carries earshot's tag. The INVITE as received gets
	// the tag too: sipgo's transaction answers a CANCEL with a 487 built
	// from it, and that 487 must carry the tag of earshot's 180 (RFC 3261
	// §8.2.6.2: one tag on every response to a request but the 100).
	tag := sip.GenerateTagN(16)
	tagged := req.Clone()
	tagged.To().Params.Add("tag", tag)
	if to := req.To(); to != nil {
		to.Params.Add("tag", tag)
	}
	c.caller = &leg{call: c, side: LegCaller, d: uasDialog(req, tag)}
	c.caller.uas = newUASInvite(newInbound(tagged, tx), callIO{c}, c.caller.d.transport)
	if rt.fromTrunk {
		c.caller.d.peers.trunk = rt.trunk
	}

	if from, _ := req.From().Params.Get("tag"); from != "" {
		c.uasTagKey = req.CallID().Value() + "|" + from
	}

	s.mu.Lock()
	if s.draining.Load() || len(s.calls) >= s.cfg.MaxCalls {
		reason := LoadMaxCalls
		if s.draining.Load() {
			reason = LoadDraining
		}
		s.mu.Unlock()
		s.stats.loadRefuse(reason)
		return nil, 503
	}
	if prev, ok := s.uasTags[c.uasTagKey]; ok && c.uasTagKey != "" && sameCSeq(prev.call.original, req) {
		s.mu.Unlock()
		return nil, 482
	}
	s.calls[id] = c
	s.live.Store(int64(len(s.calls)))
	if !c.feature {
		s.order = append(s.order, c)
		c.listed = true
	}
	if c.uasTagKey != "" {
		s.uasTags[c.uasTagKey] = uasTag{tag: tag, call: c}
	}
	// Users on a call are busy for group routing: a caller who is also an
	// agent, and the extension a call rings directly.
	for _, ext := range []string{rt.callerExt, rt.user} {
		if ext != "" && rt.kind != toConfirm {
			s.hold(c, ext)
		}
	}
	s.callsWG.Add(1)
	s.mu.Unlock()
	// Filed after the lock: no in-dialog request can name the caller's
	// dialog before a response has given the caller earshot's tag.
	s.dialogs.add(c.caller)

	tx.OnCancel(func(*sip.Request) { s.cancelCall(id) })
	go c.run()
	c.post(c.start)
	return c, 0
}

// sameCSeq reports whether two requests carry the same CSeq number.
func sameCSeq(a, b *sip.Request) bool {
	ca, cb := a.CSeq(), b.CSeq()
	return ca != nil && cb != nil && ca.SeqNo == cb.SeqNo
}

// forget removes a call and its legs from the tables and frees its agents.
// It runs on c's loop.
func (s *Server) forget(c *Call) {
	s.dialogs.forgetCall(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.calls, c.id)
	s.unlistLocked(c)
	if s.uasTags[c.uasTagKey].call == c {
		delete(s.uasTags, c.uasTagKey) // not a later INVITE's with the same tags
	}
	for id, sup := range s.sups {
		if sup.call == c {
			delete(s.sups, id)
		}
	}
	// Those who were on the answered call go to wrap-up; offers still
	// out are withdrawn.
	why := ReleaseWithdrawn
	if c.callee != nil {
		why = ReleaseEnded
	}
	for _, a := range c.reserved {
		s.router.Free(c.route.tenant.name, a, why)
	}
	c.reserved = nil
	// Last: a reader of the lock-free count (ActiveCalls) that no longer
	// counts the call finds it wholly forgotten, its agents freed.
	s.live.Store(int64(len(s.calls)))
}
