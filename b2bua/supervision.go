package b2bua

import (
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// supervision is one supervisor attached (or being attached) to a call.
// It lives on the supervised call: every field below snap is owned by the
// call's loop, so a supervision needs no locking of its own beyond the
// snapshot that the API reads.
type supervision struct {
	id   string
	call *Call
	user *User // the supervisor

	snapMu sync.Mutex // guards snap
	snap   SupervisionSnapshot

	// Owned by the call's loop.
	mode      Mode
	leg       *leg // the supervisor's dialog; nil before an API call is sent
	media     MediaLeg
	attached  bool
	promoted  bool // intercepted: the leg is now the call's agent (callee, or caller of a call the agent placed)
	ended     bool
	ringTimer *time.Timer
}

func (s *Server) newSupervision(c *Call, u *User, mode Mode, via string) *supervision {
	sup := &supervision{id: uuid.NewString(), call: c, user: u, mode: mode}
	snap := c.Snapshot()
	agent := c.route.callerExt
	if c.agentLeg == LegCallee && c.callee != nil {
		agent = c.callee.agent
	}
	sup.snap = SupervisionSnapshot{
		ID: sup.id, CallID: c.id, Tenant: snap.Tenant, Supervisor: u.Extension, Agent: agent,
		Mode: mode, State: SupRinging, Via: via, StartedAt: s.cfg.Now(),
	}
	s.mu.Lock()
	s.sups[sup.id] = sup
	s.mu.Unlock()
	return sup
}

// dialedIn reports whether the supervisor dialled in and earshot answered.
func (sup *supervision) dialedIn() bool {
	return sup.leg != nil && sup.leg.uas != nil && sup.leg.uas.answered()
}

// Snapshot returns the supervision's public state.
func (sup *supervision) Snapshot() SupervisionSnapshot {
	sup.snapMu.Lock()
	defer sup.snapMu.Unlock()
	return sup.snap
}

// publish updates the snapshot and tells the observer.
func (sup *supervision) publish(ev SupervisionEvent, fn func(*SupervisionSnapshot)) {
	s := sup.call.s
	sup.snapMu.Lock()
	fn(&sup.snap)
	sup.snapMu.Unlock()
	ev.Time = s.cfg.Now()
	ev.Supervision = sup.Snapshot()
	s.stats.supervision(ev)
	s.cfg.Observer.SupervisionEvent(ev)
	sup.call.log.Info("supervision", "event", ev.Type, "supervisor", ev.Supervision.Supervisor,
		"mode", ev.Supervision.Mode, "supervision_id", sup.id, "reason", ev.Reason)
}

// refuse publishes a refused join or switch; the supervision (if any) is
// unchanged.
func (s *Server) refuse(snap SupervisionSnapshot, requested Mode, reason string) {
	ev := SupervisionEvent{Type: SupervisionRefused, Time: s.cfg.Now(), Supervision: snap,
		Requested: requested, Reason: reason}
	s.stats.supervision(ev)
	s.cfg.Observer.SupervisionEvent(ev)
}

// mayUse reports whether u may supervise in mode m.
func mayUse(u *User, m Mode) bool {
	if u.Role != "supervisor" && u.Role != "admin" {
		return false
	}
	return u.Modes == nil || slices.Contains(u.Modes, m)
}

// checkSupervisor returns why u may not supervise in m, or nil.
func checkSupervisor(u *User, m Mode) error {
	if _, err := ParseMode(string(m)); err != nil {
		return err
	}
	if u.Role != "supervisor" && u.Role != "admin" {
		return ErrNotSupervisor
	}
	if !mayUse(u, m) {
		return ErrModeNotAllowed
	}
	return nil
}

// findUser returns a user of a tenant.
func (s *Server) findUser(tenant, ext string) *User {
	td := s.dir.tenants[tenant]
	if td == nil {
		return nil
	}
	return td.users[ext]
}

// callOf returns the live call id of a tenant.
func (s *Server) callOf(tenant, id string) *Call {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c == nil || c.route.tenant.name != tenant {
		return nil
	}
	return c
}

// agentCall finds the answered call whose agent is ext. It reports
// ErrNoActiveCall, or ErrCallNotAnswered when the agent's call still rings.
func (s *Server) agentCall(tenant, ext string) (*Call, error) {
	s.mu.Lock()
	cs := make([]*Call, 0, len(s.calls))
	for _, c := range s.calls {
		// A feature-code call (a help code's confirmation) is not the
		// agent's call.
		if c.route.tenant.name == tenant && !c.feature {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	busy := s.router.Busy(tenant, ext)
	for _, c := range cs {
		snap := c.Snapshot()
		if snap.State == StateAnswered && slices.Contains(snap.Agents, ext) {
			return c, nil
		}
	}
	if busy {
		return nil, ErrCallNotAnswered
	}
	return nil, ErrNoActiveCall
}

// do runs fn on the call's loop and returns its result; ErrCallNotFound
// if the call ended first.
func (c *Call) do(fn func() error) error {
	res := make(chan error, 1)
	if !c.post(func() { res <- fn() }) {
		return ErrCallNotFound
	}
	select {
	case err := <-res:
		return err
	case <-c.done:
		select {
		case err := <-res:
			return err
		default:
			return ErrCallNotFound
		}
	}
}

// supervisable reports whether the call can take supervisor u of agent
// ext ("": the call's agent) in mode now, and makes ext's leg the agent of
// the call's mix.
func (c *Call) supervisable(u *User, ext string, mode Mode) error {
	if c.ended {
		return ErrCallNotFound
	}
	if !c.caller.uas.answered() || c.callee == nil {
		return ErrCallNotAnswered
	}
	if !c.media.Mixable() {
		return ErrNotMixable // refused before anything is answered
	}
	side := c.agentSide(ext)
	active := false
	for _, o := range c.sups {
		if o.ended {
			continue
		}
		if o.user == u {
			return ErrAlreadySupervised
		}
		active = true
	}
	if active && side != c.agentLeg {
		return ErrOtherAgent
	}
	if side != c.agentLeg {
		if err := c.media.SetAgentLeg(side); err != nil {
			return err
		}
		c.agentLeg = side
	}
	return nil
}

// agentSide is the leg of the call's agent ext: the caller's when ext
// placed the call (an outbound or internal call), the callee's otherwise.
// Without ext, the agent is the caller of an outbound call and the callee
// of any other.
func (c *Call) agentSide(ext string) int {
	placed := c.route.callerExt != "" && (ext == c.route.callerExt || (ext == "" && c.route.direction == Outbound))
	if placed && c.callee != nil && ext == "" && c.callee.agent != "" {
		placed = false // an internal call answered by an agent: that agent by default
	}
	if placed {
		return LegCaller
	}
	return LegCallee
}

// forgetSupervision drops a supervision from the server's tables.
func (s *Server) forgetSupervision(sup *supervision) {
	s.mu.Lock()
	delete(s.sups, sup.id)
	s.mu.Unlock()
	if sup.leg != nil {
		s.dialogs.drop(sup.leg)
	}
}
