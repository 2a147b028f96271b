package rtpengine

import "time"

// The media timeout rule, kept deliberately simple:
//
//   - A session is armed when it has seen both an offer and an answer; before
//     that, the call is still being set up and is the signalling's business.
//   - Any accepted RTP or RTCP packet on either leg counts as life. Dropped
//     packets (wrong source, malformed) do not.
//   - When neither leg has had a packet for MediaTimeout since the later of
//     arming and the last packet, onTimeout is called, once per session.
//
// So a call on hold with a=inactive on both sides stays up as long as the
// phones keep sending RTCP (RFC 3264 §5.1 keeps RTCP flowing while inactive),
// and a call where only one side still sends stays up too: one-way audio is
// a complaint for a human, not a reason to hang up.

// watch is the engine's single timeout goroutine.
func (e *Engine) watch() {
	defer close(e.done)
	t := time.NewTicker(e.tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			now := e.nanotime()
			e.readKernel(now) // packets the kernel forwarded are life too
			e.checkTimeouts(now)
		}
	}
}

// checkTimeouts finds the sessions that timed out at now and calls their
// onTimeout, outside the engine lock (the callback may well close the
// session, which takes that lock).
func (e *Engine) checkTimeouts(now int64) {
	limit := int64(e.cfg.MediaTimeout)
	var expired []*Session
	e.mu.Lock()
	for s := range e.sessions {
		if s.expired(now, limit) {
			expired = append(expired, s)
		}
		// Reports go through a callback that must not block, and take no
		// engine lock.
		s.checkTransports(now)
	}
	e.mu.Unlock()
	for _, s := range expired {
		// A session closed since it was collected is hung up already.
		if s.closing.Load() {
			continue
		}
		e.timeouts.Add(1)
		s.log.Info("media timeout", "timeout", e.cfg.MediaTimeout)
		if s.onTimeout != nil {
			s.onTimeout()
		}
	}
}

// expired reports, exactly once per session, that it had no media for
// limit nanoseconds at now.
func (s *Session) expired(now, limit int64) bool {
	armed := s.armedAt.Load()
	if armed == 0 || s.timedOut.Load() || s.closing.Load() {
		return false
	}
	// Only the caller and the callee count: a supervisor's phone alone does
	// not keep a dead call up.
	pair := s.pair.Load()
	last := max(armed, pair[0].lastRecv.Load(), pair[1].lastRecv.Load())
	if now-last < limit {
		return false
	}
	return s.timedOut.CompareAndSwap(false, true)
}
