package rtpengine

import (
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/earshot/earshot/mixer"
)

// Leg is an extra leg of a session, for a third party: a supervisor's
// phone. It has its own RTP/RTCP port pair, watched by a receive loop, and
// output stream. Until Attach it is not mixed: whatever it sends is dropped (its
// source still latches) and nothing is sent to it. Its methods may be
// called from any goroutine.
type Leg struct {
	s *Session
	l *leg
}

// NewLeg allocates an extra leg on the session. Its id is 2 or more and
// unique within the session. onDigit, if not nil, is called from the
// goroutine reading the leg's RTP socket — a receive loop shared with other
// calls — once per RFC 4733 telephone-event the phone sends, with the key:
// '0'-'9', '*', '#', 'A'-'D'. It must not block. When the
// port range is exhausted the error wraps ErrNoPorts (SIP 503).
func (s *Session) NewLeg(onDigit func(digit byte)) (*Leg, error) {
	e := s.eng
	now := e.nanotime()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrClosed, "")
	}
	p, err := e.pool.allocate(now)
	if err != nil {
		e.warnNoPorts(now, s.callID)
		return nil, err
	}
	l := newLeg(s.nextID, p, rand.Uint32(), uint16(rand.Uint32()), rand.Uint32())
	l.onDigit = onDigit
	l.sess = s
	if err := s.start(l); err != nil {
		e.discard([]*leg{l})
		return nil, err
	}
	s.nextID++
	s.extras = append(s.extras, l)
	all := append(slices.Clone(*s.all.Load()), l)
	s.all.Store(&all)
	s.log.Debug("leg created", "leg", l.id, "port", l.port)
	return &Leg{s: s, l: l}, nil
}

// ID returns the leg's id within its session (2 or more).
func (g *Leg) ID() int { return g.l.id }

// check returns the error for an operation on a leg that is gone. Caller
// holds s.mu.
func (g *Leg) check() error {
	switch {
	case g.s.closed || g.l.closed:
		return newError(ErrClosed, "")
	case g.l.promoted:
		return newError(ErrPromoted, "")
	}
	return nil
}

// SetSignalSource tells the leg the IP address its phone's signalling
// comes from; see Session.SetSignalSource.
func (g *Leg) SetSignalSource(ip netip.Addr) error {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := g.check(); err != nil {
		return err
	}
	s.setSignal(g.l, ip)
	return nil
}

// AnswerOffer takes an SDP offer from the leg's phone (a supervisor dialled
// in, or a re-INVITE) and returns earshot's answer: earshot's address and
// this leg's port, one G.711 codec from the offer (PCMU preferred, else
// PCMA; ErrNoCommonCodec, SIP 488, if neither) and telephone-event if
// offered, keeping the peer's payload type numbers. The peer's address
// becomes the leg's destination and latching re-opens.
func (g *Leg) AnswerOffer(offer []byte) ([]byte, error) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := g.check(); err != nil {
		return nil, err
	}
	desc, remote, err := answerLeg(offer, sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(g.l.port)},
		func(w *remoteWebRTC) (*localWebRTC, error) { return s.setWebRTC(g.l, w) })
	if err != nil {
		return nil, err
	}
	if remote.webrtc == nil {
		s.setWebRTC(g.l, nil) // a SIP phone now: no transport
	}
	g.setMedia(remote)
	return g.l.origin.stamp(desc), nil
}

// Offer returns earshot's offer to the leg's phone (click-to-monitor):
// PCMU (0), PCMA (8), telephone-event/8000 (101, events 0-16), ptime 20,
// sendrecv. The phone's answer goes to TakeAnswer.
func (g *Leg) Offer() ([]byte, error) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := g.check(); err != nil {
		return nil, err
	}
	desc, plan := legOffer(sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(g.l.port)})
	g.l.plan = &plan
	return g.l.origin.stamp(desc), nil
}

// TakeAnswer takes the phone's answer to Offer: it sets the leg's codec
// (the first G.711 format of the answer) and destination.
func (g *Leg) TakeAnswer(answer []byte) error {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := g.check(); err != nil {
		return err
	}
	if g.l.plan == nil {
		return newError(ErrNoOffer, "")
	}
	_, remote, err := rewriteAnswer(answer, *g.l.plan, sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(g.l.port)})
	if err != nil {
		return err
	}
	if !remote.media.codec.Valid() {
		return newError(ErrNoCommonCodec, "answer has neither PCMU nor PCMA")
	}
	if _, err := s.setWebRTC(g.l, remote.webrtc); err != nil {
		return err
	}
	g.l.answered(g.l.plan, remote)
	g.setMedia(remote)
	return nil
}

// setMedia installs a negotiated SDP on the leg and, if the codec changed
// while attached, re-adds it to the mixer. Caller holds s.mu.
func (g *Leg) setMedia(remote remoteMedia) {
	m := remote.media
	if remote.webrtc != nil {
		g.l.remote = remote // ICE decides the addresses (setWebRTC)
	} else {
		g.s.resetPeer(g.l, remote)
	}
	g.l.media.Store(&m)
	if err := g.s.reconcile(); err != nil {
		g.s.log.Warn("mix after leg SDP", "leg", g.l.id, "err", err)
	}
}

// Attach puts the leg into the mix as a supervisor in mode. The first
// Attach of a session moves it from the relay to the mix; on an attached
// leg it switches the mode, seamlessly. It fails with ErrNotNegotiated if
// the leg has no codec yet, and with ErrNotMixable (SIP 488) if the
// caller's and callee's codecs are not both G.711.
func (g *Leg) Attach(mode mixer.Mode) error {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := g.check(); err != nil {
		return err
	}
	if mode == mixer.ModeNone || !mode.Valid() {
		return newError(ErrBadMode, mode.String())
	}
	if !g.l.media.Load().codec.Valid() {
		return newError(ErrNotNegotiated, "")
	}
	pair := s.pair.Load()
	if !pair[0].media.Load().codec.Valid() || !pair[1].media.Load().codec.Valid() {
		return newError(ErrNotMixable, "caller and callee must both use PCMU or PCMA")
	}
	was, wasMode := g.l.attached, g.l.mode
	g.l.attached, g.l.mode = true, mode
	if err := s.reconcile(); err != nil {
		g.l.attached, g.l.mode = was, wasMode
		if err2 := s.reconcile(); err2 != nil {
			s.log.Warn("mix after failed attach", "err", err2)
		}
		return err
	}
	s.log.Info("supervisor attached", "leg", g.l.id, "mode", mode.String())
	return nil
}

// Promote completes an intercept: the leg takes the agent's place — the
// callee's, or the caller's on a call the agent placed (SetAgentLeg). The
// old agent leg leaves the mix, its sockets close and its ports are
// released; from then on that leg number of Offer, Answer, Snapshot and
// Cue means this leg (its ports, peer, output stream and o= line), so a
// re-INVITE from the other party is offered to this leg's phone. In the
// mix the leg becomes the agent. If no other supervisor is attached and both legs'
// codecs match, the session returns to the relay. Afterwards the Leg's
// own methods fail with ErrPromoted and Close does nothing: the leg
// belongs to the session, and Session.Close frees it.
func (g *Leg) Promote() error {
	s := g.s
	s.mu.Lock()
	if err := g.check(); err != nil {
		s.mu.Unlock()
		return err
	}
	if !g.l.media.Load().codec.Valid() {
		s.mu.Unlock()
		return newError(ErrNotNegotiated, "")
	}
	pair := *s.pair.Load()
	old := pair[s.agentLeg]
	if old.inMix {
		s.removeFromMix(old)
	}
	old.closed = true
	pair[s.agentLeg] = g.l
	s.pair.Store(&pair)
	g.l.promoted, g.l.attached = true, false
	s.intercepted = true
	s.extras = slices.DeleteFunc(s.extras, func(l *leg) bool { return l == g.l })
	all := slices.DeleteFunc(slices.Clone(*s.all.Load()), func(l *leg) bool { return l == old })
	s.all.Store(&all)
	s.updateRates(g.l)
	err := s.reconcile()
	s.shutting.Add(1)
	s.mu.Unlock()
	// The old callee's readers never take s.mu: shut it outside the lock
	// anyway, so control calls are not held up by its socket teardown.
	s.shut(old)
	s.shutting.Done()
	s.log.Info("leg promoted to agent", "leg", g.l.id, "side", s.agentLeg, "released_port", old.port)
	return err
}

// Close detaches the leg and frees it: its sockets close, its readers are
// waited for and its ports released. When the last attached supervisor
// goes and the caller's and callee's codecs match, the session returns to
// the relay. Close is idempotent, and does nothing on a promoted leg.
func (g *Leg) Close() error {
	s := g.s
	s.mu.Lock()
	if g.l.closed || g.l.promoted {
		s.mu.Unlock()
		return nil
	}
	g.l.closed, g.l.attached = true, false
	if g.l.inMix {
		s.removeFromMix(g.l)
	}
	s.extras = slices.DeleteFunc(s.extras, func(l *leg) bool { return l == g.l })
	all := slices.DeleteFunc(slices.Clone(*s.all.Load()), func(l *leg) bool { return l == g.l })
	s.all.Store(&all)
	err := s.reconcile()
	s.shutting.Add(1)
	s.mu.Unlock()
	s.shut(g.l)
	s.shutting.Done()
	return err
}
