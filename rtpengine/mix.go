package rtpengine

import (
	"encoding/binary"
	"fmt"

	"github.com/earshot/earshot/mixer"
)

// primeFrames is how many mixer frames for the caller or callee leg are
// thrown away while the relay still feeds that leg, when a session moves to
// the mix: the jitter buffer's minimum depth in frames plus two, so that the
// first mixed frame sent plays real audio rather than the silence of a
// buffer still filling up.
func primeFrames(j mixer.JitterConfig) int {
	d := j.MinDepth
	if d <= 0 {
		d = mixer.DefaultMinDepth
	}
	return int((d+mixer.FrameDuration-1)/mixer.FrameDuration) + 2
}

// wantMix decides the media path: the mix while a leg hears a playback
// (Play), after an intercept (Promote), while a supervisor is attached or
// while the caller's and callee's codecs differ, provided both are G.711;
// the relay otherwise. Caller holds s.mu.
func (s *Session) wantMix() bool {
	pair := s.pair.Load()
	if s.playing() || s.intercepted {
		// After an intercept the call stays mixed: the promoted leg keeps
		// its jitter buffer, and the customer's stream keeps its 20 ms
		// pace while the supervisor's phone sends the key press instead
		// of audio.
		return true
	}
	m0, m1 := pair[0].media.Load(), pair[1].media.Load()
	if !m0.codec.Valid() || !m1.codec.Valid() {
		return false
	}
	if m0.codec != m1.codec || m0.audioPT != m1.audioPT {
		return true
	}
	for _, l := range s.extras {
		if l.attached {
			return true
		}
	}
	return false
}

// reconcile brings the mixer in line with the legs' state: it starts or
// stops mixing and adds, removes, re-adds (new codec or role) or switches
// the mode of mixer legs. Every change of a leg's SDP or supervision state
// ends with it. Caller holds s.mu.
func (s *Session) reconcile() error {
	if s.closed || !s.wantMix() {
		s.stopMix()
		return nil
	}
	if s.mix == nil {
		ms, err := s.eng.mixer.NewSession(mixer.SessionConfig{Sink: (*mixSink)(s), Jitter: s.eng.cfg.Jitter})
		if err != nil {
			return fmt.Errorf("rtpengine: start mixing: %w", err)
		}
		s.mix = ms
		s.mixBatch.Store(s.eng.batchFor(ms))
		s.mixed.Store(true)
		// From here no stream goes to the kernel; the ones it feeds
		// come back before the mixer needs their packets.
		s.reclaimAll()
		s.log.Info("media path: mix")
	}
	all := *s.all.Load()
	wants := make([]mixer.LegConfig, len(all))
	oks := make([]bool, len(all))
	for i, l := range all {
		wants[i], oks[i] = s.mixConfig(l)
	}
	s.markBypass(all, wants, oks)
	icpt := false
	for i := range all {
		icpt = icpt || (oks[i] && wants[i].Role == mixer.RoleSupervisor && wants[i].Mode == mixer.ModeIntercept)
	}
	for i, l := range all {
		want, ok := wants[i], oks[i]
		// A supervisor whose audio nobody hears: the kernel may drop it
		// (kernelpath.go); any other mode needs it in the jitter buffer
		// before the mixer's next tick.
		listening := ok && want.Role == mixer.RoleSupervisor && want.Mode == mixer.ModeListen && !icpt
		l.listening.Store(listening)
		if !listening {
			s.undrop(l)
		}
		switch {
		case l.inMix && (!ok || want.Codec != l.mixCfg.Codec):
			s.removeFromMix(l)
		case l.inMix && (want.Role != l.mixCfg.Role || want.Mode != l.mixCfg.Mode) && want.Role != mixer.RoleSupervisor:
			// A role change (an intercepting supervisor becomes the
			// agent) keeps the leg's jitter buffer: no gap for whoever
			// hears it.
			if err := s.mix.SetParty(want.ID, mixer.Party{Role: want.Role, Mode: want.Mode}); err != nil {
				return err
			}
			l.mixCfg.Role, l.mixCfg.Mode = want.Role, want.Mode
		case l.inMix && want.Role != l.mixCfg.Role:
			s.removeFromMix(l)
		case l.inMix && want.Mode != l.mixCfg.Mode:
			if err := s.mix.SetMode(want.ID, want.Mode); err != nil {
				return err
			}
			l.mixCfg.Mode = want.Mode
		}
		if ok && !l.inMix {
			if err := s.addToMix(l, want); err != nil {
				return err
			}
		}
		if ok && l.inMix && want.Bypass != l.mixCfg.Bypass {
			if err := s.setBypass(l, want.Bypass); err != nil {
				return err
			}
		}
	}
	return nil
}

// markBypass sets Bypass in the wanted mixer config of each of the two
// pair legs that should hear the other party straight from the relay
// rather than from the mixer: the leg hears nobody else (by the
// hear-matrix, given every leg's wanted party), both parties use one
// codec, and no playback, cue or intercept is in play. That is the
// customer and the agent under a listening supervisor, and the customer
// under a whisper: their streams stay the relayed packets, untouched and
// without the jitter buffer's delay, while their audio still feeds the
// mix the supervisor hears, and the mixer makes a frame per tick for the
// supervisor only. Caller holds s.mu.
func (s *Session) markBypass(all []*leg, wants []mixer.LegConfig, oks []bool) {
	pair := s.pair.Load()
	if s.playing() || s.intercepted {
		return
	}
	m0, m1 := pair[0].media.Load(), pair[1].media.Load()
	if m0.codec != m1.codec || m0.audioPT != m1.audioPT {
		return
	}
	var parties []mixer.Party
	for i := range all {
		if oks[i] {
			parties = append(parties, mixer.Party{Role: wants[i].Role, Mode: wants[i].Mode})
		}
	}
	icpt := mixer.Intercepted(parties)
	for i, l := range all {
		other := otherOf(pair, l)
		if !oks[i] || other == nil || l.cueReq.Load() != l.cueDone.Load() {
			continue
		}
		me := mixer.Party{Role: wants[i].Role, Mode: wants[i].Mode}
		only := true
		for j, k := range all {
			if j == i || !oks[j] {
				continue
			}
			if mixer.Hears(me, mixer.Party{Role: wants[j].Role, Mode: wants[j].Mode}, icpt) != (k == other) {
				only = false
				break
			}
		}
		wants[i].Bypass = only
	}
}

// setBypass turns the mixer's frames for pair leg l off (the relay feeds
// l's phone: SetBypass waits out a tick in progress, then the relay takes
// the stream back with a re-base) or on (l primes as addToMix does, then
// the sink claims the stream). Caller holds s.mu.
func (s *Session) setBypass(l *leg, on bool) error {
	id := mixer.LegID(l.id)
	if on {
		if err := s.mix.SetBypass(id, true); err != nil {
			return err
		}
		l.out.release()
		l.bypassed.Store(true)
	} else {
		// The kernel may feed l (a listened call): it gives the stream
		// back before the mixer can claim it.
		l.bypassed.Store(false)
		s.reclaim(l)
		l.primeLeft = 0
		if !l.out.mixing() && l.out.state().Started && l.play.Load() == nil {
			l.primeLeft = s.eng.prime
		}
		if err := s.mix.SetBypass(id, false); err != nil {
			return err
		}
	}
	l.mixCfg.Bypass = on
	return nil
}

// mixConfig is the mixer leg l should be, and whether it should be in the
// mix at all. Caller holds s.mu.
func (s *Session) mixConfig(l *leg) (mixer.LegConfig, bool) {
	cfg := mixer.LegConfig{ID: mixer.LegID(l.id), Codec: l.media.Load().codec}
	pair := s.pair.Load()
	switch {
	case l == pair[s.agentLeg]:
		cfg.Role = mixer.RoleAgent
	case l == pair[1-s.agentLeg]:
		cfg.Role = mixer.RoleCustomer
	case l.attached:
		cfg.Role, cfg.Mode = mixer.RoleSupervisor, l.mode
	default:
		return cfg, false
	}
	return cfg, cfg.Codec.Valid()
}

// addToMix adds l to the mixer and then lets its reader push. A caller or
// callee leg whose stream the relay still feeds primes first (primeLeft);
// the sink takes the stream over when that runs out. Caller holds s.mu.
func (s *Session) addToMix(l *leg, cfg mixer.LegConfig) error {
	// Written before AddLeg publishes the leg, so the worker sees it.
	l.primeLeft = 0
	// A leg that starts hearing a playback (music on hold) is claimed at
	// once: what it hears is the playback, not the buffered audio the
	// priming waits for, and its peer may just have stopped sending.
	if pair := s.pair.Load(); (l == pair[0] || l == pair[1]) && !l.out.mixing() && l.out.state().Started && l.play.Load() == nil {
		l.primeLeft = s.eng.prime
	}
	ml, err := s.mix.AddLeg(cfg)
	if err != nil {
		return err
	}
	if cfg.Bypass {
		// Re-added bypassed (a new codec) after the mixer fed l: the
		// relay takes the stream back; RemoveLeg waited out the mixer.
		l.out.release()
	}
	l.bypassed.Store(cfg.Bypass)
	l.inMix, l.mixCfg = true, cfg
	l.mixLeg.Store(ml)
	return nil
}

// removeFromMix takes l out of the mixer. RemoveLeg waits out a tick in
// progress, so when it returns no frame for l is being written. l's stream
// stays with the mixer; the caller releases it if the relay is to take over
// (stopMix) or re-adds the leg. Caller holds s.mu.
func (s *Session) removeFromMix(l *leg) {
	if !l.inMix {
		return
	}
	l.mixLeg.Store(nil)
	l.bypassed.Store(false)
	if err := s.mix.RemoveLeg(mixer.LegID(l.id)); err != nil {
		s.log.Warn("remove mixer leg", "leg", l.id, "err", err)
	}
	l.inMix = false
}

// stopMix ends mixing: the mixer session closes (and with it every frame
// write), then the caller's and callee's streams go back to the relay,
// which re-bases them. Caller holds s.mu.
func (s *Session) stopMix() {
	if s.mix == nil {
		return
	}
	s.mix.Close()
	s.mix = nil
	s.mixBatch.Store(nil)
	for _, l := range *s.all.Load() {
		l.mixLeg.Store(nil)
		l.bypassed.Store(false)
		l.inMix = false
		l.out.release()
	}
	s.mixed.Store(false)
	// A stream the kernel feeds for a listened call still copies its
	// input for the mix: it comes back, to go to the kernel again plain.
	s.reclaimAll()
	s.log.Info("media path: relay")
}

// mixSink is the mixer.Sink of a session: the session itself, seen through
// a type whose only method is WriteFrame, so the method stays out of
// Session's API.
type mixSink Session

// WriteFrame sends one mixed frame to the phone of leg id. It runs on the
// mixer worker and must not block or allocate.
func (k *mixSink) WriteFrame(id mixer.LegID, payload []byte) {
	s := (*Session)(k)
	for _, l := range *s.all.Load() {
		if l.id == int(id) {
			s.sendFrame(l, payload)
			return
		}
	}
}

// sendFrame builds an RTP packet around a mixer frame in l's buffer with the
// mixer's own input identity (an SSRC of its own, a sequence number and a
// timestamp advancing by one frame per tick), maps it onto l's stream, adds
// a cue if one is playing, and sends it. While l primes, the relay still
// owns the stream and the frame is discarded.
func (s *Session) sendFrame(l *leg, payload []byte) {
	m := l.media.Load()
	if !m.codec.Valid() || len(payload) > mixer.FrameSamples {
		return
	}
	pkt := l.frame[:rtpFixedHeader+len(payload)]
	pkt[0], pkt[1] = 0x80, byte(m.audioPT)
	binary.BigEndian.PutUint16(pkt[2:], l.mixSeq)
	binary.BigEndian.PutUint32(pkt[4:], l.mixTS)
	binary.BigEndian.PutUint32(pkt[8:], ^l.out.ssrc) // any SSRC but the output's
	copy(pkt[rtpFixedHeader:], payload)
	l.mixSeq++
	l.mixTS += uint32(len(payload))
	claim := l.primeLeft <= 0
	if !claim {
		l.primeLeft--
	}
	now := s.eng.nanotime()
	b := s.mixBatch.Load()
	if !l.out.mix(pkt, now, s.rates.Load(), claim, b) {
		return
	}
	defer l.out.sent()
	l.player.overlay(s.eng.g711, l.play.Load(), pkt[rtpFixedHeader:], m.codec)
	l.cue.overlay(s.eng.g711, &s.eng.cues, l.cueReq.Load(), pkt[rtpFixedHeader:], m.codec)
	if l.cue.done() && l.cueDone.Load() != l.cue.seen {
		l.cueDone.Store(l.cue.seen)
	}
	dst := l.rtp.dest.Load()
	if dst == nil || !dst.addr.IsValid() {
		s.counters.dropNoDest.Add(1)
		return
	}
	s.counters.mixerOut.Add(1)
	to := partyOf(s.pair.Load(), l)
	s.countRelayed(&s.counters.rtpPackets, to, len(pkt))
	var err error
	if b != nil && l.wrtc.Load() == nil {
		// Sent after the tick, with the rest of the worker's frames;
		// a send that fails then is taken back there.
		err = b.add(l.rtp.conn, l.out, pkt, dst.addr, s, to, true)
	} else {
		err = l.sendRTP(pkt, dst.addr)
	}
	if err != nil {
		s.unsentFrame(to, len(pkt))
	}
}

// unsentFrame takes back the counting of a mixed frame of size bytes for
// to whose send failed.
func (s *Session) unsentFrame(to Party, size int) {
	s.uncountRelayed(&s.counters.rtpPackets, to, size)
	s.counters.mixerOut.Add(^uint64(0))
}

// SetAgentLeg says which of the two legs the mix treats as the agent (and
// the other as the customer): 1, the callee, unless the agent placed the
// call (0). Supervisors whisper to the agent and intercept takes its
// place; Promote supports only an agent on leg 1.
func (s *Session) SetAgentLeg(leg int) error {
	if err := checkLeg(leg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return newError(ErrClosed, "")
	}
	s.agentLeg = leg
	return s.reconcile()
}

// Mixable reports whether both parties carry G.711, the codecs the mixer
// decodes: only then can a supervisor join. A call relayed in another
// codec (Opus, G.722) cannot be supervised.
func (s *Session) Mixable() bool {
	pair := s.pair.Load()
	return pair[0].media.Load().codec.Valid() && pair[1].media.Load().codec.Valid()
}
