package b2bua

// The dialog table: s.legs finds a leg from an in-dialog request's
// Call-ID and our tag; s.legKeys lists, per call, the keys filed for it,
// so ending a call drops its legs without scanning every live dialog.
// A scan made forget O(live dialogs) under s.mu, which at a high call rate
// turned a backlog into a collapse: the more calls queued, the longer
// every call's end held the lock. Both maps are guarded by s.mu.

// addLegLocked files l under its dialog key. s.mu is held.
func (s *Server) addLegLocked(l *leg) {
	k := l.d.key()
	s.legs[k] = l
	s.legKeys[l.call] = append(s.legKeys[l.call], k)
}

// forgetLegsLocked drops every leg filed for c; legs already dropped on
// their own (a failed fork, a released agent, a detached supervisor) are
// skipped. s.mu is held.
func (s *Server) forgetLegsLocked(c *Call) {
	for _, k := range s.legKeys[c] {
		if l := s.legs[k]; l != nil && l.call == c {
			delete(s.legs, k)
		}
	}
	delete(s.legKeys, c)
}

// forgetLeg drops one leg from the dialog table (a failed fork, a replaced
// callee, a transfer that did not happen), unless another leg took its
// key meanwhile.
func (s *Server) forgetLeg(l *leg) {
	s.mu.Lock()
	if s.legs[l.d.key()] == l {
		delete(s.legs, l.d.key())
	}
	s.mu.Unlock()
}
