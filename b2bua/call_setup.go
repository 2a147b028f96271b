package b2bua

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/icholy/digest"
)

// start runs first on the call's loop: media, then the first ring attempt.
func (c *Call) start() {
	if c.feature {
		c.startConfirm()
		return
	}
	req := c.caller.uas.in.req
	c.s.respond(c.caller.uas.in.tx, c.original, 100, "Trying", nil)
	c.log.Info("call started", "direction", c.route.direction, "number", c.route.number,
		"caller", c.route.caller.Number, "tenant", c.route.tenant.name,
		"sip_call_id", c.snap.Load().CallerCallID, "session_id", c.snap.Load().SessionID)
	c.update(nil, CallStarted)

	ms, err := c.s.cfg.Media.NewSession(c.id, func() { c.post(func() { c.hangup(EndMediaTimeout) }) })
	var se StatusError
	if errors.As(err, &se) && se.SIPStatus() == 503 {
		// The media engine has no ports or descriptors left: a refusal
		// for load, counted as one. The engine logs the shortage; a line
		// per call refused was thousands a second past the machine's
		// rate.
		c.s.stats.loadRefuse(LoadMedia)
		c.log.Debug("call refused: no media", "err", err)
		c.fail(503, reasonPhrase(503), EndError)
		return
	}
	if err != nil {
		c.failErr(err)
		return
	}
	c.media = ms
	ms.OnTransportFailed(func(leg int, reason string) { c.post(func() { c.transportFailed(leg, reason) }) })
	c.signalFrom(LegCaller, c.original.Source())
	if c.caller.uas.lateOffer {
		// A late offer (RFC 3261 §13.2.1): earshot offers to the callee
		// itself, then offers the caller the codec the callee chose in the
		// 2xx; the caller answers in its ACK.
		c.ringing.offer, err = ms.LocalOffer(LegCallee)
	} else {
		c.ringing.offer, err = ms.Offer(LegCaller, req.Body())
	}
	if err != nil {
		c.failErr(err)
		return
	}
	c.ring()
}

// failErr fails the call with the SIP status an error carries (500 if none).
func (c *Call) failErr(err error) {
	code, phrase := 500, "Server Internal Error"
	var se StatusError
	if errors.As(err, &se) {
		code, phrase = se.SIPStatus(), reasonPhrase(se.SIPStatus())
	}
	c.log.Warn("call setup failed", "err", err)
	c.fail(code, phrase, EndError)
}

// ring starts the next ring attempt, or fails the call if none is left.
func (c *Call) ring() {
	rt := c.route
	var timeout time.Duration
	var targets []target
	switch rt.kind {
	case toTrunk:
		if len(c.ringing.tried) == 0 {
			targets = []target{c.trunkTarget()}
		}
		timeout = c.s.cfg.ExtensionRingTimeout
	case toUser:
		if !c.ringing.tried[rt.user] {
			targets = c.s.userTargets(rt.tenant.name, rt.user)
			c.ringing.tried[rt.user] = true
			if len(targets) == 0 {
				c.fail(480, "Temporarily Unavailable", EndNoAgent)
				return
			}
		}
		timeout = c.s.cfg.ExtensionRingTimeout
	case toGroup:
		var d Decision
		if targets, d = c.s.pickAgents(c, rt.group); len(targets) == 0 {
			switch {
			case d.Wait && c.ringing.refused != 0 && !c.waiting.queued:
				// The agents refused the offer itself (their phones lack
				// its codecs): waiting would not change that.
				c.s.router.Left(c.id, EndRejected)
			case d.Wait:
				c.enterQueue(d.Announce)
				return
			case d.Exit != nil:
				c.leaveQueue(*d.Exit)
				return
			}
			end := EndNoAnswer
			if len(c.ringing.tried) == 0 {
				end = EndNoAgent
			}
			if code := c.ringing.refused; code != 0 {
				// The agents refused the offer itself (their phones lack
				// its codecs): say so, rather than "nobody answered".
				c.fail(code, c.ringing.refusedReason, EndRejected)
				return
			}
			c.fail(d.Status, d.Reason, end)
			return
		}
		timeout = rt.group.RingTimeout
	}
	if len(targets) == 0 {
		c.fail(480, "Temporarily Unavailable", EndNoAnswer)
		return
	}
	for _, t := range targets {
		c.ringing.tried[t.agent] = true
		c.fork(t)
	}
	if len(c.ringing.forks) == 0 {
		c.ring()
		return
	}
	if c.ringing.timer != nil {
		c.ringing.timer.Stop()
	}
	c.ringing.timer = c.after(timeout, c.onRingTimeout)
}

// target is one destination of a forked INVITE.
type target struct {
	agent     string // extension, "" for a trunk
	uri       sip.Uri
	dest      string
	transport string
}

func (c *Call) trunkTarget() target {
	tr := c.route.trunk
	host, port := splitHostPort(tr.Outbound)
	return target{
		uri:       sip.Uri{Scheme: "sip", User: c.route.number, Host: host, Port: port},
		dest:      tr.Outbound,
		transport: strings.ToUpper(tr.Transport),
	}
}

// fork sends the INVITE for one target.
func (c *Call) fork(t target) {
	s := c.s
	host := s.contact("udp").Address.Host
	l := &leg{call: c, side: LegCallee, agent: t.agent}
	l.d = dialog{
		callID:    uuid.NewString(),
		localTag:  sip.GenerateTagN(16),
		local:     sip.Uri{Scheme: "sip", User: c.route.caller.Number, Host: host},
		localName: c.route.caller.Name,
		remote:    sip.Uri{Scheme: "sip", User: c.route.number, Host: host},
		target:    t.uri,
		transport: t.transport,
		dest:      t.dest,
	}
	l.d.peers.add(t.dest)
	if c.route.kind == toTrunk {
		l.d.peers.trunk = c.route.trunk
	}
	if t.agent != "" {
		l.d.remote.User = t.agent
	}
	if l.d.transport == "" {
		l.d.transport = "UDP"
	}
	offer := c.ringing.offer
	if isWebSocket(t.transport) {
		// A browser: the same offer in WebRTC's form.
		o, err := c.media.WebRTCOffer(LegCallee)
		if err != nil {
			c.log.Warn("no WebRTC offer for a browser", "agent", t.agent, "err", err)
			if t.agent != "" && c.route.kind == toGroup && !c.forkOf(t.agent) {
				c.s.release(c, t.agent, ReleaseWithdrawn)
			}
			return
		}
		offer = o
	}
	req := l.d.newRequest(sip.INVITE, s.contact(l.d.transport))
	setMaxForwards(req, hopsAfter(c.original))
	req.SetBody(offer)
	l.sdpSent = offer
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	if c.route.kind == toTrunk {
		req.AppendHeader(sip.NewHeader("Supported", "100rel, timer"))
	} else {
		req.AppendHeader(sip.NewHeader("Supported", "timer"))
	}
	req.AppendHeader(c.calleeSessionExpires())
	req.AppendHeader(sip.NewHeader("Session-ID", c.snap.Load().SessionID))
	if id := c.outboundIdentity(); id != "" {
		// The carrier sees the configured number, not the extension.
		l.d.local.User, l.d.localName = id, ""
		req.From().Address.User = id
		req.From().DisplayName = ""
		req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<sip:"+id+"@"+host+">"))
	}
	if c.route.fromTrunk {
		// Identity headers of a trusted trunk travel to the agent.
		for _, name := range []string{"P-Asserted-Identity", "Diversion"} {
			for _, h := range c.caller.uas.in.req.GetHeaders(name) {
				req.AppendHeader(sip.NewHeader(name, h.Value()))
			}
		}
	}
	l.uac = newUACInvite(&l.d, callIO{c}, req)
	c.ringing.forks = append(c.ringing.forks, l)
	if err := c.sendFork(l); err != nil {
		c.log.Warn("invite failed", "agent", t.agent, "err", err)
		c.dropFork(l, ReleaseWithdrawn)
	}
}

func (c *Call) sendFork(l *leg) error {
	err := l.uac.start(func(res *sip.Response) { c.onForkResponse(l, res) },
		func(err error) { c.onForkDone(l, err) })
	if err != nil {
		return err
	}
	c.s.dialogs.add(l)
	return nil
}

// dropFork forgets a fork that will not be the callee; its agent is
// released for why.
func (c *Call) dropFork(l *leg, why Release) {
	c.ringing.forks = slices.DeleteFunc(c.ringing.forks, func(f *leg) bool { return f == l })
	if l.uac.state == uacHeld {
		c.ringing.held = append(c.ringing.held, l)
	}
	c.s.dialogs.drop(l)
	if l.agent != "" && c.route.kind == toGroup && !c.forkOf(l.agent) {
		c.s.release(c, l.agent, why)
	}
}

// forkOf reports whether another fork still rings ext (a second phone of
// the same agent).
func (c *Call) forkOf(ext string) bool {
	return slices.ContainsFunc(c.ringing.forks, func(f *leg) bool { return f.agent == ext })
}

// cancelFork gives a ringing fork up (CANCEL, RFC 3261 §9.1).
func (c *Call) cancelFork(l *leg) { l.uac.cancel() }

func (c *Call) isFork(l *leg) bool { return slices.Contains(c.ringing.forks, l) }

func (c *Call) onForkResponse(l *leg, res *sip.Response) {
	if c.ended {
		return
	}
	// The leg's INVITE handles the protocol (dialog, PRACK, ACK, a 2xx
	// after CANCEL); the call decides what a fork's answer means.
	switch r := l.uac.response(res); {
	case !c.isFork(l):
		if r == uacAccepted {
			c.bye(l) // answered although no longer rung: take it down
		}
	case r == uacRinging:
		c.onProvisional(l, res)
	case r == uacAccepted:
		c.onAnswer(l, res)
	case r == uacRefused:
		c.onReject(l, res)
	}
}

func (c *Call) onProvisional(l *leg, res *sip.Response) {
	if c.waiting.queued {
		return // the caller hears the queue's music, not the agent's phone
	}
	var body []byte
	if len(res.Body()) > 0 && res.StatusCode == 183 {
		c.signalFrom(LegCallee, res.Source())
		b, err := c.media.Answer(LegCallee, res.Body())
		switch {
		case err != nil:
			c.log.Debug("early media answer rejected", "err", err)
		case c.caller.uas.lateOffer:
			// The caller waits for an offer in the 2xx; it gets plain
			// ringing meanwhile.
			l.earlySDP = b
		default:
			l.earlySDP, body = b, b
		}
	}
	if body == nil && c.ringing.rang {
		return
	}
	c.ringing.rang = true
	code, phrase := 180, "Ringing"
	if body != nil {
		code, phrase = 183, "Session Progress"
	}
	c.caller.uas.provisional(code, phrase, body, []sip.Header{c.s.contact(c.caller.d.transport)}, func() {
		c.log.Info("reliable provisional never acknowledged")
		c.fail(504, "Reliable Provisional Not Acknowledged", EndError)
	})
	c.update(nil, CallRinging)
}

func (c *Call) onReject(l *leg, res *sip.Response) {
	if res.StatusCode == 422 && !l.uac.seRetried {
		// The callee wants a longer session interval (RFC 4028 §6).
		l.uac.seRetried = true
		if minSE, ok := minSessionExpires(res); ok && time.Duration(minSE)*time.Second > c.s.cfg.SessionExpires {
			err := c.resendInvite(l, func(req *sip.Request) {
				req.RemoveHeader("Session-Expires")
				req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(minSE)))
				req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(minSE)))
			})
			if err == nil {
				return
			}
		}
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && !l.uac.authTried && c.route.kind == toTrunk && c.route.trunk.Username != "" {
		l.uac.authTried = true
		edit, err := digestAnswer(l, res, c.route.trunk)
		if err == nil {
			if err = c.resendInvite(l, edit); err == nil {
				return
			}
		}
	}
	c.log.Debug("fork rejected", "agent", l.agent, "code", res.StatusCode)
	if telling(res.StatusCode) && (c.ringing.refused == 0 || res.StatusCode >= 600) {
		c.ringing.refused, c.ringing.refusedReason = res.StatusCode, res.Reason
	}
	// An agent who let it ring out or declined missed the offer; a phone
	// that cannot take the offer's codecs says nothing about the agent.
	why := ReleaseNoAnswer
	if res.StatusCode == 488 || res.StatusCode == 415 {
		why = ReleaseWithdrawn
	}
	c.dropFork(l, why)
	if len(c.ringing.forks) > 0 {
		return
	}
	switch c.route.kind {
	case toTrunk:
		// The carrier's answer is the caller's answer.
		c.fail(res.StatusCode, res.Reason, EndRejected)
	case toUser:
		c.fail(res.StatusCode, res.Reason, EndRejected)
	default:
		c.ring()
	}
}

// digestAnswer answers the carrier's digest challenge in res to l's
// INVITE with trunk tr's credentials: the edit that adds them to the
// INVITE sent again.
func digestAnswer(l *leg, res *sip.Response, tr *Trunk) (func(*sip.Request), error) {
	hdr, authHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		hdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(hdr)
	if h == nil {
		return nil, errors.New("no challenge")
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return nil, err
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: l.uac.invite.Recipient.Addr(),
		Username: tr.Username, Password: tr.Password})
	if err != nil {
		return nil, err
	}
	return func(req *sip.Request) {
		req.AppendHeader(sip.NewHeader(authHdr, cred.String()))
	}, nil
}

// resendInvite sends a fork's INVITE again, with the next CSeq, after edit
// has adjusted it.
func (c *Call) resendInvite(l *leg, edit func(*sip.Request)) error {
	if !l.uac.resend(l.sdpSent, edit) {
		return errors.New("invite cannot be resent")
	}
	return c.sendFork(l)
}

// minSessionExpires reads Min-SE from a 422.
func minSessionExpires(res *sip.Response) (int, bool) { return deltaSeconds(res.GetHeader("Min-SE")) }

func (c *Call) onForkDone(l *leg, err error) {
	if c.ended || !c.isFork(l) || !l.uac.done() {
		return
	}
	// The transaction died without a final response (timeout, transport).
	c.log.Debug("fork transaction ended", "agent", l.agent, "err", err)
	c.onReject(l, &sip.Response{StatusCode: 408, Reason: "Request Timeout"})
}

func (c *Call) onRingTimeout() {
	if c.ended || c.callee != nil {
		return
	}
	for _, f := range append([]*leg(nil), c.ringing.forks...) {
		c.cancelFork(f)
		c.dropFork(f, ReleaseNoAnswer)
	}
	if c.route.kind == toGroup {
		c.ring() // the router decides: the next agent, the queue, or 480
		return
	}
	c.fail(480, "Temporarily Unavailable", EndNoAnswer)
}

// onAnswer: a fork answered. It becomes the callee; the others are
// canceled; the caller gets 200 with the answer pointing at earshot.
func (c *Call) onAnswer(l *leg, res *sip.Response) {
	c.ringing.forks = slices.DeleteFunc(c.ringing.forks, func(f *leg) bool { return f == l })
	for _, f := range c.ringing.forks {
		c.cancelFork(f)
		c.dropFork(f, ReleaseWithdrawn)
	}
	c.ringing.forks = nil
	c.callee = l
	if c.ringing.timer != nil {
		c.ringing.timer.Stop()
	}
	if c.waiting.queued {
		// The music stops before the agent's answer reaches the media,
		// so the relay takes the caller's stream straight from the mix.
		_ = c.media.OnDigit(LegCaller, nil)
		if err := c.media.StopPlay(LegCaller); err != nil {
			c.log.Warn("stop queue playback", "err", err)
		}
	}
	answer := l.earlySDP
	if len(res.Body()) > 0 || answer == nil {
		// A 2xx without SDP is fine when the callee answered in a reliable
		// 183 (RFC 3262); otherwise Answer refuses the empty body.
		var err error
		c.signalFrom(LegCallee, res.Source())
		if answer, err = c.media.Answer(LegCallee, res.Body()); err != nil {
			c.log.Warn("callee answer rejected", "err", err)
			c.bye(l)
			c.callee = nil
			c.failErr(err)
			return
		}
	}
	if c.waiting.queued {
		answer = c.waiting.answer // what earshot answered the caller with
	}
	c.startCalleeTimer(res)
	if !c.caller.uas.answered() {
		c.acceptCaller(answer)
	}
	if c.route.kind == toGroup {
		c.s.router.Answered(c.id, c.route.tenant.name, l.agent)
	}
	now := c.s.cfg.Now()
	c.update(func(s *CallSnapshot) {
		s.State, s.AnsweredAt, s.CalleeCallID = StateAnswered, now, l.d.callID
		if l.agent != "" {
			s.Agents = c.agentsWith(l.agent)
			s.Callee = Party{Number: l.agent}
		}
	}, CallAnswered)
	c.log.Info("call answered", "agent", l.agent, "callee_sip_call_id", l.d.callID)
}

// onAck takes an ACK on one of the call's dialogs. ACKs may be handled out
// of order (a late initial ACK after a re-INVITE), so each is matched to
// the INVITE it acknowledges by its CSeq number.
func (c *Call) onAck(l *leg, req *sip.Request) {
	cs := req.CSeq()
	if cs == nil {
		return
	}
	if !l.d.peers.allows(req.Source()) {
		// An ACK may carry the answer to an offer: from anyone but the
		// dialog's peer it would re-point the media.
		c.s.securityRefuse(RefusedDialogPeer, req, c.id)
		return
	}
	if l.reoffered != 0 && cs.SeqNo == l.reoffered {
		l.reoffered = 0
		if _, err := c.media.Answer(l.side, req.Body()); err != nil {
			// An offer in a 2xx must be answered in the ACK (RFC 3261
			// §13.2.1); without it the media cannot go on.
			c.log.Warn("answer to a re-offer rejected", "err", err)
			c.hangup(EndError)
		}
		return
	}
	if l.uas == nil || !l.uas.ack(cs.SeqNo) || !l.uas.lateOffer {
		return
	}
	// The ACK completes a late offer: it carries the answer.
	if sup := l.sup; sup != nil {
		c.takeSupLateAnswer(sup, req.Body())
		return
	}
	c.takeLateAnswer(req.Body())
}

// takeLateAnswer completes a late-offer call with the caller's answer from
// its ACK. Without a usable answer the call cannot have media: earshot
// ends it with BYE both ways (RFC 3261 §13.3.1.4 leaves the UAS no other
// way out once the ACK came).
func (c *Call) takeLateAnswer(body []byte) {
	if len(body) == 0 {
		c.log.Warn("late-offer ACK without SDP answer")
		c.hangup(EndError)
		return
	}
	if _, err := c.media.Answer(LegCaller, body); err != nil {
		c.log.Warn("late-offer answer in ACK rejected", "err", err)
		c.hangup(EndError)
	}
}

func (c *Call) onCancel() {
	if c.caller.uas.answered() || c.ended {
		return
	}
	// sipgo already answered CANCEL with 200 and the INVITE with 487.
	c.caller.uas.in.finish()
	c.end(EndCanceled)
}

func (c *Call) onSessionExpired() {
	if !c.ended {
		c.log.Info("session timer expired")
		c.hangup(EndSessionTimer)
	}
}

// refreshSession restarts the session timer after a refresh from the caller.
func (c *Call) refreshSession() {
	if c.callerSess.timer != nil {
		c.callerSess.timer.Stop()
		c.callerSess.timer = c.after(c.callerSess.interval, c.onSessionExpired)
	}
}

// reasonPhrase is the standard phrase of the statuses lower layers return.
func reasonPhrase(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 480:
		return "Temporarily Unavailable"
	case 482:
		return "Loop Detected"
	case 488:
		return "Not Acceptable Here"
	case 503:
		return "Service Unavailable"
	}
	return "Server Internal Error"
}

func hasTag(m interface{ GetHeaders(string) []sip.Header }, name, tag string) bool {
	for _, h := range m.GetHeaders(name) {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

func splitHostPort(hp string) (string, int) {
	i := strings.LastIndexByte(hp, ':')
	if i < 0 {
		return hp, 0
	}
	p, _ := strconv.Atoi(hp[i+1:])
	return hp[:i], p
}

// outboundIdentity is the number a carrier sees on a call a user places
// through a trunk: the caller ID of the first group (in configuration
// order) the user is an agent of that has one, else the trunk's; "" for
// other calls or when none is configured.
func (c *Call) outboundIdentity() string {
	if c.route.kind != toTrunk || c.route.callerExt == "" {
		return ""
	}
	for _, g := range c.tenantPolicy().Groups {
		if g.CallerID != "" && slices.Contains(g.Agents, c.route.callerExt) {
			return g.CallerID
		}
	}
	return c.route.trunk.CallerID
}
