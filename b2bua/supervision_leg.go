package b2bua

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// attach puts a supervisor's negotiated media leg into the call's mix and
// publishes the start. Runs on the call's loop.
func (c *Call) attach(sup *supervision) error {
	if err := sup.media.Attach(sup.mode); err != nil {
		return err
	}
	sup.attached = true
	c.sups = append(c.sups, sup)
	sup.publish(SupervisionEvent{Type: SupervisionStarted}, func(s *SupervisionSnapshot) {
		s.State, s.Mode = SupActive, sup.mode
	})
	t := c.tenantPolicy()
	if t.NotifyAgentOnMonitor {
		c.cue(c.agentLeg, CueNotify)
	}
	c.modeEntered(sup)
	return nil
}

// modeEntered does what entering sup's current mode implies beyond the mix.
func (c *Call) modeEntered(sup *supervision) {
	switch sup.mode {
	case ModeBarge:
		if c.tenantPolicy().BargeBeep {
			c.cue(LegCaller, CueBeep)
			c.cue(LegCallee, CueBeep)
		}
	case ModeIntercept:
		c.intercept(sup)
	}
}

func (c *Call) cue(leg int, cue Cue) {
	if err := c.media.Cue(leg, cue); err != nil {
		c.log.Debug("cue not played", "leg", leg, "err", err)
	}
}

// tenantPolicy is the configuration of the call's tenant.
func (c *Call) tenantPolicy() *Tenant {
	for i := range c.s.cfg.Tenants {
		if c.s.cfg.Tenants[i].Name == c.route.tenant.name {
			return &c.s.cfg.Tenants[i]
		}
	}
	return &Tenant{}
}

// switchMode changes an attached supervision's mode on behalf of actor.
// A mode the actor may not use is refused with an error tone to the
// supervisor and a refused event; the mode stays as it was.
func (c *Call) switchMode(sup *supervision, mode Mode, actor *User) error {
	if sup.ended {
		return ErrSupervisionGone
	}
	if sup.promoted {
		return ErrIntercepted
	}
	if err := checkSupervisor(actor, mode); err != nil {
		if sup.media != nil && sup.attached {
			c.cue(sup.media.ID(), CueError)
		}
		c.s.refuse(sup.Snapshot(), mode, err.Error())
		return err
	}
	if mode == sup.mode {
		return nil
	}
	if !sup.attached {
		// Still ringing (API): the new mode applies on answer.
		sup.mode = mode
		sup.snapMu.Lock()
		sup.snap.Mode = mode
		sup.snapMu.Unlock()
		return nil
	}
	if err := sup.media.Attach(mode); err != nil {
		return err
	}
	prev := sup.mode
	sup.mode = mode
	sup.publish(SupervisionEvent{Type: SupervisionModeChanged, Previous: prev}, func(s *SupervisionSnapshot) {
		s.Mode = mode
	})
	c.modeEntered(sup)
	return nil
}

// intercept hands the call to the supervisor: the agent gets BYE and the
// supervisor's leg becomes the callee, media and signalling alike.
func (c *Call) intercept(sup *supervision) {
	if err := sup.media.Promote(); err != nil {
		c.log.Warn("intercept failed", "err", err)
		return
	}
	sup.promoted = true
	if c.agentLeg == LegCaller {
		c.replaceCaller(sup)
		return
	}
	c.replaceCallee(sup.leg, sup.user)
}

// replaceCaller is intercept on a call the agent placed (outbound, or
// internal and supervised for its caller): the agent gets BYE and the
// supervisor's dialog becomes the caller's. The caller's leg keeps its
// place in the call — its answered INVITE, which every path of the call
// reads — and takes the supervisor's dialog; the supervisor's own leg
// leaves the dialog table, so its phone's requests reach the caller's.
func (c *Call) replaceCaller(sup *supervision) {
	l := c.caller
	c.bye(l)
	c.s.dialogs.drop(l)
	if ext := c.route.callerExt; ext != "" {
		c.s.release(c, ext, ReleaseEnded)
	}
	if t := c.callerSess.timer; t != nil {
		t.Stop()
	}
	c.callerSess = callerTimer{}
	l.d, l.sdpSent, l.offer, l.onHold, l.reoffered = sup.leg.d, sup.leg.sdpSent, nil, false, 0
	c.s.dialogs.add(l) // under the supervisor's key, which l's dialog now is
	sup.leg = l
	u := sup.user
	c.route.callerExt = u.Extension
	c.s.hold(c, u.Extension)
	c.update(func(s *CallSnapshot) {
		s.Caller = Party{Number: u.Extension, Name: u.Name}
		s.Agents = []string{u.Extension}
		if c.callee != nil && c.callee.agent != "" {
			s.Agents = c.agentsWith(c.callee.agent)
		}
		s.CallerCallID = l.d.callID
	}, CallAgentChanged)
}

// replaceCallee makes l, a leg already connected to the call's media as
// the callee, the call's callee in signalling too: the old callee gets
// BYE and leaves the dialog table, its agent is released and its session
// timer stops; the new one's user is held busy, and observers see the
// new agent. Intercept uses it; a transfer or a queue hand-off is the
// same operation.
func (c *Call) replaceCallee(l *leg, u *User) {
	c.replaceCalleeWith(l, Party{Number: u.Extension, Name: u.Name}, true)
}

// replaceCalleeWith is replaceCallee for a callee that is a user (held
// busy, named as the call's agent) or not (an external number reached
// by a transfer).
func (c *Call) replaceCalleeWith(l *leg, callee Party, user bool) {
	old := c.callee
	if old != nil {
		c.bye(old)
		c.s.dialogs.drop(old)
		if old.agent != "" {
			c.s.release(c, old.agent, ReleaseEnded)
		}
	}
	// The old callee's session timer left with its dialog.
	if t := c.calleeSess.timer; t != nil {
		t.Stop()
	}
	c.calleeSess = calleeTimer{}
	l.side = LegCallee
	l.agent = ""
	if user {
		l.agent = callee.Number
		c.s.hold(c, callee.Number)
	}
	c.callee = l
	c.update(func(s *CallSnapshot) {
		s.Agents = nil
		if user {
			s.Agents = c.agentsWith(callee.Number)
		} else if c.route.callerExt != "" {
			s.Agents = []string{c.route.callerExt}
		}
		s.Callee = callee
		s.CalleeCallID = l.d.callID
	}, CallAgentChanged)
}

// detach ends a supervision that is not the call: BYE (or CANCEL while it
// rings) to the supervisor's phone unless it hung up itself, media freed.
func (c *Call) detach(sup *supervision, reason string) {
	if sup.ended {
		return
	}
	sup.ended = true
	if sup.leg != nil && reason != SupEndHangup {
		switch {
		case sup.attached || sup.dialedIn() || (sup.leg.uac != nil && sup.leg.uac.answered()):
			c.bye(sup.leg)
		case sup.leg.uac != nil && c.ended:
			sup.leg.uac.abandon()
		case sup.leg.uac != nil:
			sup.leg.uac.cancel()
		}
	}
	c.stopSupTimers(sup)
	if sup.media != nil {
		_ = sup.media.Close()
	}
	if sup.leg != nil && sup.leg.uas != nil {
		sup.leg.uas.reject(487, "Request Terminated")
		sup.leg.uas.end()
	}
	c.s.forgetSupervision(sup)
	c.sups = removeSup(c.sups, sup)
	sup.publish(SupervisionEvent{Type: SupervisionEnded}, func(s *SupervisionSnapshot) {
		s.State, s.EndedAt, s.EndReason = SupEnded, c.s.cfg.Now(), reason
	})
}

func (c *Call) stopSupTimers(sup *supervision) {
	if sup.ringTimer != nil {
		sup.ringTimer.Stop()
	}
}

func removeSup(xs []*supervision, x *supervision) []*supervision {
	out := xs[:0]
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// endSupervisions closes every supervision when the call ends. The
// intercepting supervisor is the callee: its leg got BYE (or sent it) with
// the call.
func (c *Call) endSupervisions(reason string) {
	for _, sup := range append([]*supervision(nil), c.sups...) {
		if sup.promoted {
			r := SupEndCallEnded
			if (reason == EndCalleeHangup && c.agentLeg == LegCallee) || (reason == EndCallerHangup && c.agentLeg == LegCaller) {
				r = SupEndHangup
			}
			sup.ended = true
			c.stopSupTimers(sup)
			c.s.forgetSupervision(sup)
			sup.publish(SupervisionEvent{Type: SupervisionEnded}, func(s *SupervisionSnapshot) {
				s.State, s.EndedAt, s.EndReason = SupEnded, c.s.cfg.Now(), r
			})
			continue
		}
		c.detach(sup, SupEndCallEnded)
	}
	// Supervisions still ringing are not in c.sups yet.
	c.s.mu.Lock()
	var pending []*supervision
	for _, sup := range c.s.sups {
		if sup.call == c {
			pending = append(pending, sup)
		}
	}
	c.s.mu.Unlock()
	for _, sup := range pending {
		c.detach(sup, SupEndCallEnded)
	}
}

// onSupRequest handles a request inside a supervisor's dialog (before an
// intercept made it the callee's).
func (c *Call) onSupRequest(l *leg, in *inbound) {
	sup, req := l.sup, in.req
	switch req.Method {
	case sip.BYE:
		in.respond(c.s, 200, "OK", nil)
		c.detach(sup, SupEndHangup)
	case sip.INVITE, sip.UPDATE:
		if len(req.Body()) == 0 {
			if req.Method == sip.INVITE {
				in.respond(c.s, 488, "SDP Offer Required", nil)
				return
			}
			in.respond(c.s, 200, "OK", nil, c.s.contact(l.d.transport))
			return
		}
		answer, err := sup.media.AnswerOffer(req.Body())
		if err != nil {
			code := statusOf(err, 488)
			in.respond(c.s, code, reasonPhrase(code), nil)
			return
		}
		in.respond(c.s, 200, "OK", answer, c.s.contact(l.d.transport), sip.NewHeader("Allow", allowMethods))
	case sip.INFO:
		if d, ok := infoDigit(req); ok {
			c.onSupDigit(sup, d)
		}
		in.respond(c.s, 200, "OK", nil)
	case sip.PRACK, sip.OPTIONS:
		in.respond(c.s, 200, "OK", nil)
	default:
		in.respond(c.s, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
	}
}

// onSupDigit switches mode on the supervisor's DTMF digits 1–4.
func (c *Call) onSupDigit(sup *supervision, d byte) {
	if c.ended || sup.ended || sup.promoted || !sup.attached {
		return
	}
	if d < '1' || d > '4' {
		return
	}
	if err := c.switchMode(sup, Modes[d-'1'], sup.user); err != nil {
		c.log.Info("mode switch refused", "supervisor", sup.user.Extension, "err", err)
	}
}

// infoDigit reads the digit of a SIP INFO DTMF relay: application/dtmf-relay
// ("Signal=2") or application/dtmf ("2").
func infoDigit(req *sip.Request) (byte, bool) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	body := strings.TrimSpace(string(req.Body()))
	switch {
	case strings.HasPrefix(ct, "application/dtmf-relay"):
		for _, line := range strings.Split(body, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				return dtmfChar(strings.TrimSpace(v))
			}
		}
	case strings.HasPrefix(ct, "application/dtmf"):
		return dtmfChar(body)
	}
	return 0, false
}

func dtmfChar(v string) (byte, bool) {
	if len(v) != 1 {
		return 0, false
	}
	ch := v[0]
	switch {
	case ch >= '0' && ch <= '9', ch == '*', ch == '#', ch >= 'A' && ch <= 'D':
		return ch, true
	case ch >= 'a' && ch <= 'd':
		return ch - 'a' + 'A', true
	}
	return 0, false
}

// statusOf is the SIP status an error carries, or def.
func statusOf(err error, def int) int {
	if se, ok := err.(StatusError); ok {
		return se.SIPStatus()
	}
	return def
}

// agentsWith is the call's agents with callee as the one it reaches: the
// agent who placed the call (an internal call), if any, then the callee.
func (c *Call) agentsWith(callee string) []string {
	if ext := c.route.callerExt; ext != "" && ext != callee {
		return []string{ext, callee}
	}
	return []string{callee}
}
