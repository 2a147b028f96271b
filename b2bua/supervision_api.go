package b2bua

import "errors"

// This file is the in-process supervision API the control plane drives.
// Every method takes the tenant and the acting user from the caller's
// authenticated principal; objects of another tenant are reported as not
// found.

// Call returns the snapshot of a live call.
func (s *Server) Call(id string) (CallSnapshot, bool) {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c == nil {
		return CallSnapshot{}, false
	}
	return c.Snapshot(), true
}

// Supervision returns the snapshot of a live (ringing or active)
// supervision. Ended ones are gone: their last state was published.
func (s *Server) Supervision(id string) (SupervisionSnapshot, bool) {
	s.mu.Lock()
	sup := s.sups[id]
	s.mu.Unlock()
	if sup == nil {
		return SupervisionSnapshot{}, false
	}
	return sup.Snapshot(), true
}

// Supervisions returns the live supervisions of every call.
func (s *Server) Supervisions() []SupervisionSnapshot {
	s.mu.Lock()
	sups := make([]*supervision, 0, len(s.sups))
	for _, sup := range s.sups {
		sups = append(sups, sup)
	}
	s.mu.Unlock()
	out := make([]SupervisionSnapshot, 0, len(sups))
	for _, sup := range sups {
		out = append(out, sup.Snapshot())
	}
	return out
}

// Supervise starts a supervision of call callID by the supervisor with
// extension supervisor: earshot calls the supervisor's registered phone and
// attaches it in mode when it answers. device chooses which phone rings:
// the browser (the workspace's webphone), a SIP phone, or (RingBoth) the
// last registered of those the user's calls ring on. The returned
// snapshot is in state ringing; SupervisionEvents tell the rest.
func (s *Server) Supervise(tenant, supervisor, callID string, mode Mode, device Device) (SupervisionSnapshot, error) {
	u := s.findUser(tenant, supervisor)
	if u == nil {
		return SupervisionSnapshot{}, ErrNotSupervisor
	}
	if err := checkSupervisor(u, mode); err != nil {
		if !errors.Is(err, ErrUnknownMode) {
			s.refuse(SupervisionSnapshot{Tenant: tenant, CallID: callID, Supervisor: supervisor, Mode: mode, Via: ViaAPI},
				mode, err.Error())
		}
		return SupervisionSnapshot{}, err
	}
	c := s.callOf(tenant, callID)
	if c == nil {
		return SupervisionSnapshot{}, ErrCallNotFound
	}
	targets := s.userTargets(tenant, supervisor)
	if device != RingBoth {
		targets = s.deviceTargets(tenant, supervisor, device)
	}
	if len(targets) == 0 {
		return SupervisionSnapshot{}, ErrNotRegistered
	}
	// The snapshot is taken on the call's loop right after the INVITE went
	// out: a phone that answers at once must not make it look answered.
	var snap SupervisionSnapshot
	err := c.do(func() error {
		if err := c.supervisable(u, "", mode); err != nil {
			return err
		}
		sup := s.newSupervision(c, u, mode, ViaAPI)
		if err := c.originate(sup, targets[len(targets)-1]); err != nil {
			s.forgetSupervision(sup)
			return err
		}
		snap = sup.Snapshot()
		return nil
	})
	if err != nil {
		return SupervisionSnapshot{}, err
	}
	return snap, nil
}

// lookupSupervision finds a live supervision of tenant that actor may
// control: its own, or any if actor is an admin.
func (s *Server) lookupSupervision(tenant, actor, id string) (*supervision, *User, error) {
	s.mu.Lock()
	sup := s.sups[id]
	s.mu.Unlock()
	if sup == nil || sup.call.route.tenant.name != tenant {
		return nil, nil, ErrSupervisionGone
	}
	u := s.findUser(tenant, actor)
	if u == nil || (u.Role != "supervisor" && u.Role != "admin") {
		return nil, nil, ErrNotSupervisor
	}
	if u != sup.user && u.Role != "admin" {
		return nil, nil, ErrSupervisionGone
	}
	return sup, u, nil
}

// SetSupervisionMode switches a supervision to mode, with the same
// permission rules as DTMF: a mode the actor may not use is refused and
// published as refused.
func (s *Server) SetSupervisionMode(tenant, actor, id string, mode Mode) (SupervisionSnapshot, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return SupervisionSnapshot{}, err
	}
	sup, u, err := s.lookupSupervision(tenant, actor, id)
	if err != nil {
		return SupervisionSnapshot{}, err
	}
	c := sup.call
	err = c.do(func() error { return c.switchMode(sup, mode, u) })
	if errors.Is(err, ErrCallNotFound) {
		err = ErrSupervisionGone
	}
	return sup.Snapshot(), err
}

// EndSupervision disconnects a supervisor. After an intercept the
// supervisor is the call's agent, so this ends the call.
func (s *Server) EndSupervision(tenant, actor, id string) error {
	sup, _, err := s.lookupSupervision(tenant, actor, id)
	if err != nil {
		return err
	}
	c := sup.call
	err = c.do(func() error {
		switch {
		case sup.ended:
			return ErrSupervisionGone
		case sup.promoted:
			c.bye(c.caller)
			c.end(EndSupervisorEnded)
		default:
			c.detach(sup, SupEndDetached)
		}
		return nil
	})
	if errors.Is(err, ErrCallNotFound) {
		err = ErrSupervisionGone
	}
	return err
}
