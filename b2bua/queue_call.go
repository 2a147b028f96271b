package b2bua

import (
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A call to a group whose agents are all busy waits in the group's queue:
// the router (a queue, see Router) answers Route with Wait, and the call
// answers its caller itself (200, or 183 with early media), plays the
// group's music and announcements, and rings agents whenever the router
// wakes it. When an agent answers, the music stops and the relay takes
// over the caller's stream without a gap (rtpengine re-bases it); when the
// router or the caller ends the wait (maximum wait, the leave digit), the
// call goes where the group's Exit says.

// queueState is what a call keeps while its caller waits in a queue. Owned
// by the call's loop.
type queueState struct {
	queued bool
	// answer is earshot's SDP answer to the caller, for the 2xx that
	// follows an unreliable 183.
	answer []byte
	// leaving: the caller asked for a callback; the call ends after the
	// confirmation prompt.
	leaving bool
}

// enterQueue puts the caller in the queue: answered by earshot, hearing
// music after a.
func (c *Call) enterQueue(a Announcement) {
	if c.waiting.queued {
		return
	}
	if c.caller.uas.answered() {
		// A customer transferred to a busy group: connected already,
		// it only starts hearing the queue.
		c.waiting.queued = true
		c.startWaiting(a)
		return
	}
	if c.caller.uas.lateOffer {
		// Without the caller's offer earshot has no codec to answer in
		// before an agent exists (the answer would come in an ACK that
		// needs earshot's own 2xx first): such a caller is not queued.
		c.s.router.Left(c.id, EndNoAgent)
		c.fail(480, "Temporarily Unavailable", EndNoAgent)
		return
	}
	answer, other, err := c.media.AnswerLocal(LegCaller, c.caller.uas.in.req.Body())
	if err != nil {
		c.s.router.Left(c.id, EndError)
		c.failErr(err)
		return
	}
	c.ringing.offer = other // agents get the caller's settled codec
	c.waiting.queued, c.waiting.answer = true, answer
	g := c.route.group
	if g.Queue.EarlyMedia {
		c.ringing.rang = true
		c.caller.uas.provisional(183, "Session Progress", answer, []sip.Header{c.s.contact(c.caller.d.transport)}, func() {
			c.log.Info("reliable provisional never acknowledged")
			c.fail(504, "Reliable Provisional Not Acknowledged", EndError)
		})
	} else {
		c.acceptCaller(answer)
	}
	c.startWaiting(a)
}

// startWaiting plays the queue to the caller and listens for its leave
// digit.
func (c *Call) startWaiting(a Announcement) {
	g := c.route.group
	if d := g.Queue.LeaveDigit; d != 0 {
		if err := c.media.OnDigit(LegCaller, func(k byte) {
			if k == d {
				c.post(c.onLeaveDigit)
			}
		}); err != nil {
			c.log.Warn("queue leave digit", "err", err)
		}
	}
	c.play(Playback{Announce: a})
	now := c.s.cfg.Now()
	c.update(func(s *CallSnapshot) { s.State, s.QueuedAt = StateQueued, now }, CallQueued)
	c.log.Info("call queued", "group", g.Name, "position", a.Position)
}

// play makes the waiting caller hear p with the group's sounds.
func (c *Call) play(p Playback) {
	p.Tenant, p.Group = c.route.tenant.name, c.route.group.Name
	if err := c.media.Play(LegCaller, p); err != nil {
		c.log.Warn("queue playback", "err", err)
	}
}

// onQueueWake: the router thinks an agent may be free for this call.
func (c *Call) onQueueWake() {
	if c.ended || c.callee != nil || len(c.ringing.forks) > 0 || c.waiting.leaving || c.route.kind != toGroup {
		return
	}
	c.ring()
}

// onAnnounce tells the waiting caller where it stands.
func (c *Call) onAnnounce(a Announcement) {
	if c.ended || !c.waiting.queued || c.callee != nil || c.waiting.leaving {
		return
	}
	c.play(Playback{Announce: a})
}

// onLeaveDigit: the waiting caller pressed the group's leave digit: a
// callback request. The caller hears the confirmation and is hung up.
func (c *Call) onLeaveDigit() {
	if c.ended || !c.waiting.queued || c.callee != nil || c.waiting.leaving {
		return
	}
	c.waiting.leaving = true
	c.withdrawForks()
	c.s.router.Left(c.id, EndCallback)
	c.log.Info("caller left the queue for a callback")
	c.play(Playback{Prompt: "queue-callback"})
	c.after(callbackPromptTime, func() { c.hangupFor(EndCallback, 200, "Callback Requested") })
}

// callbackPromptTime is how long the callback confirmation plays before
// earshot hangs up.
const callbackPromptTime = 5 * time.Second

// withdrawForks cancels every agent being rung for the call.
func (c *Call) withdrawForks() {
	for _, f := range append([]*leg(nil), c.ringing.forks...) {
		c.cancelFork(f)
		c.dropFork(f, ReleaseWithdrawn)
	}
	if c.ringing.timer != nil {
		c.ringing.timer.Stop()
	}
}

// leaveQueue takes the call out of routing to its group by x: another
// group or business number, an external number through the tenant's
// trunk, or a final status.
func (c *Call) leaveQueue(x Exit) {
	if c.ended || c.callee != nil || c.waiting.leaving {
		return
	}
	c.withdrawForks()
	c.log.Info("call leaves the queue", "why", x.Why, "to", x.Target())
	td := c.route.tenant
	if x.Group != "" {
		if g, ok := td.groups[x.Group]; ok {
			c.reroute(g, c.route.number, c.route.label, c.route.priority)
			return
		}
	}
	if x.Number != "" {
		if nr, ok := td.numbers[x.Number]; ok {
			c.reroute(nr.group, x.Number, nr.label, nr.priority)
			return
		}
		if len(td.trunks) > 0 {
			c.route.kind, c.route.trunk, c.route.number = toTrunk, td.trunks[0], x.Number
			c.ringing.tried = map[string]bool{}
			c.ring()
			return
		}
	}
	code, phrase := x.Status, x.Reason
	if code == 0 {
		code, phrase = 480, "Temporarily Unavailable"
	}
	c.fail(code, phrase, EndOverflow)
}

// reroute sends the call to group g, as if it had called number there.
func (c *Call) reroute(g *Group, number, label string, priority int) {
	c.route.group, c.route.number, c.route.label, c.route.priority = g, number, label, priority
	c.ringing.tried = map[string]bool{}
	c.update(func(s *CallSnapshot) { s.Group, s.Number, s.Label = g.Name, number, label }, CallRerouted)
	c.ring()
}

// acceptCaller answers the caller's INVITE with 200 and answer (nil when
// the caller already has it from a reliable 183), with the session timer
// the caller asked for.
func (c *Call) acceptCaller(answer []byte) {
	if c.caller.uas.rel.early {
		answer = nil // the caller already has the answer, reliably
	}
	hdrs := []sip.Header{c.s.contact(c.caller.d.transport), sip.NewHeader("Allow", allowMethods)}
	if se, ok := sessionExpires(c.caller.uas.in.req); ok {
		c.callerSess.interval = time.Duration(se) * time.Second
		hdrs = append(hdrs, sip.NewHeader("Session-Expires", strconv.Itoa(se)+";refresher=uac"))
		if hasTag(c.caller.uas.in.req, "Supported", "timer") || hasTag(c.caller.uas.in.req, "Require", "timer") {
			hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
		}
		c.callerSess.timer = c.after(c.callerSess.interval, c.onSessionExpired)
	}
	c.caller.uas.acceptAfterPrack(answer, hdrs, func() { c.hangup(EndError) })
	c.s.stats.answered(c.s.cfg.Now().Sub(c.snap.Load().StartedAt))
}

// Pick has user ext (a supervisor) take waiting call callID of tenant:
// the agents rung for it are withdrawn and ext's phone rings; the caller
// keeps its music until ext answers. ErrNotQueued if the call does not
// wait, ErrNotRegistered if ext has no phone, ErrUserBusy if ext is on a
// call.
func (s *Server) Pick(tenant, ext, callID string) error {
	c := s.callOf(tenant, callID)
	if c == nil {
		return ErrCallNotFound
	}
	if len(s.userTargets(tenant, ext)) == 0 {
		return ErrNotRegistered
	}
	return c.do(func() error {
		if !c.waiting.queued || c.callee != nil || c.waiting.leaving || c.route.kind != toGroup {
			return ErrNotQueued
		}
		if err := s.router.Pick(c.id, tenant, ext); err != nil {
			return err
		}
		c.log.Info("waiting call picked", "user", ext)
		c.withdrawForks()
		c.ring()
		return nil
	})
}

// Move sends waiting call callID of tenant to group, at the end of its
// queue. ErrNotQueued if the call does not wait, ErrNoSuchGroup if the
// tenant has no such group.
func (s *Server) Move(tenant, callID, group string) error {
	c := s.callOf(tenant, callID)
	if c == nil {
		return ErrCallNotFound
	}
	return c.do(func() error {
		if !c.waiting.queued || c.callee != nil || c.waiting.leaving || c.route.kind != toGroup {
			return ErrNotQueued
		}
		g, ok := c.route.tenant.groups[group]
		if !ok {
			return ErrNoSuchGroup
		}
		c.log.Info("waiting call moved", "group", group)
		c.withdrawForks()
		c.reroute(g, c.route.number, c.route.label, c.route.priority)
		return nil
	})
}
