package b2bua

import (
	"strings"
	"time"
)

// An agent changes its own state by dialling a feature code alone: pause
// (optionally followed by the number of a pause reason), unpause, log in,
// log out. The change is made when the INVITE is classified; earshot then
// answers, plays a short confirmation tone and hangs up with BYE whose
// Reason header names the new state (RFC 3326). Refusals are final
// responses with a reason phrase that says why.

// confirmTime is how long the confirmation plays before earshot hangs up.
const confirmTime = 1500 * time.Millisecond

// agentCode reads an agent-state feature code: the state it asks for and
// the number of the pause reason (0: none given).
func (s *Server) agentCode(num string) (AgentState, int, bool) {
	fc := s.cfg.FeatureCodes
	switch num {
	case fc.Unpause, fc.LogIn:
		return AgentAvailable, 0, true
	case fc.LogOut:
		return AgentLoggedOut, 0, true
	case fc.Pause:
		return AgentPaused, 0, true
	}
	if rest, ok := strings.CutPrefix(num, fc.Pause); ok && len(rest) == 1 && rest[0] >= '1' && rest[0] <= '9' {
		return AgentPaused, int(rest[0] - '0'), true
	}
	return "", 0, false
}

// classifyAgentCode applies an agent-state code dialled by u; ok is false
// when num is no such code.
func (s *Server) classifyAgentCode(rt route, u *User) (_ route, code int, phrase string, ok bool) {
	st, n, ok := s.agentCode(rt.number)
	if !ok {
		return rt, 0, "", false
	}
	if s.cfg.Agents == nil {
		return route{}, 404, "Feature Code Not Available", true
	}
	reason := ""
	if st == AgentPaused && n == 0 && len(rt.tenant.pauseReasons) > 0 {
		n = 1 // the tenant's first reason
	}
	if n > 0 {
		if n > len(rt.tenant.pauseReasons) {
			return route{}, 404, "No Such Pause Reason", true
		}
		reason = rt.tenant.pauseReasons[n-1]
	}
	if err := s.cfg.Agents.SetAgentState(rt.tenant.name, u.Extension, st, reason, u.Extension); err != nil {
		s.log.Info("agent state change refused", "tenant", rt.tenant.name, "user", u.Extension, "err", err)
		return route{}, 403, "State Change Refused", true
	}
	rt.kind = toConfirm
	rt.label = stateText(st, reason)
	return rt, 0, "", true
}

// stateText is the reason phrase that confirms a state: "Paused (lunch)".
func stateText(st AgentState, reason string) string {
	switch st {
	case AgentAvailable:
		return "Available"
	case AgentLoggedOut:
		return "Logged Out"
	}
	return "Paused (" + reason + ")"
}

// startConfirm answers a feature-code call with the confirmation tone and
// hangs up. Without an SDP offer there is no tone to play: the INVITE
// gets 480 with the confirmation as its reason phrase.
func (c *Call) startConfirm() {
	c.s.respond(c.caller.uas.in.tx, c.original, 100, "Trying", nil)
	if c.caller.uas.lateOffer {
		c.fail(480, c.route.label, EndFeature)
		return
	}
	ms, err := c.s.cfg.Media.NewSession(c.id, func() {})
	if err != nil {
		c.failErr(err)
		return
	}
	c.media = ms
	c.signalFrom(LegCaller, c.original.Source())
	body := c.caller.uas.in.req.Body()
	if _, err = ms.Offer(LegCaller, body); err == nil {
		var answer []byte
		if answer, _, err = ms.AnswerLocal(LegCaller, body); err == nil {
			c.acceptCaller(answer)
			err = ms.Play(LegCaller, Playback{Confirm: true})
		}
	}
	if err != nil {
		c.failErr(err)
		return
	}
	c.after(confirmTime, func() { c.hangupFor(EndFeature, 200, c.route.label) })
}
