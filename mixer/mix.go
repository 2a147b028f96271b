package mixer

import (
	"math/bits"
	"time"
)

// Tick produces one 20 ms frame for every leg of a standalone session: it
// feeds each leg's queued packets to its jitter buffer, pops one frame per
// leg, and hands each leg the mix of what it hears to the Sink. The owner
// calls it every 20 ms with the current time.
// Tick on a session clocked by a Pool returns ErrPooled and does nothing.
func (s *Session) Tick(now time.Time) error {
	if s.shard != nil {
		return ErrPooled
	}
	s.tick(now, s.own)
	return nil
}

// tick is one frame of the session's life. It reads the leg table once, so a
// concurrent control change applies from the next tick, and allocates
// nothing: every buffer lives in the legs.
func (s *Session) tick(now time.Time, c *counters) {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	t := s.table.Load()
	if t == nil {
		return
	}
	// First everyone speaks...
	for _, l := range t.legs {
		before := l.jb.stats
		l.in.drain(&l.jb)
		c.delay.observe(frameDelay(l.jb.Depth()))
		l.raw = l.jb.pop(now, &l.pcm)
		l.decoded = l.raw == nil
		c.addJitter(&before, &l.jb.stats)
	}
	// ...then everyone hears, but for the bypassed legs.
	var out uint64
	for r, l := range t.legs {
		if l.bypass.Load() {
			continue
		}
		mixFor(s.enc, l, t.legs, t.hears[r])
		s.sink.WriteFrame(l.id, l.enc[:])
		out++
	}
	c.framesOut.Add(out)
}

// mixFor encodes into l.enc the saturating sum of the frames of the legs in
// the bitmask hears, in l's codec. A leg that hears nobody (the agent while a
// supervisor intercepts) gets encoded silence, so its RTP stream keeps
// flowing with continuous timestamps until the signalling layer removes it.
// The common cases (one or two sources) skip the int32 accumulator, and
// when their frames arrived whole they skip linear PCM too (encoder.recode,
// encoder.pair): a source is decoded only when a mix needs its samples.
func mixFor(e *encoder, l *Leg, legs []*Leg, hears uint32) {
	switch bits.OnesCount32(hears) {
	case 0:
		e.silence(l.codec, &l.enc)
		return
	case 1:
		src := legs[bits.TrailingZeros32(hears)]
		if src.raw != nil {
			e.recodeFrame(src.codec, l.codec, &l.enc, src.raw)
			return
		}
		e.encode(l.codec, &l.enc, &src.pcm)
		return
	case 2:
		a := legs[bits.TrailingZeros32(hears)]
		b := legs[bits.TrailingZeros32(hears&(hears-1))]
		if a.raw != nil && b.raw != nil && a.codec == l.codec && b.codec == l.codec {
			e.mixPair(l.codec, &l.enc, a.raw, b.raw)
			return
		}
		add2(&l.mix, a.frame(), b.frame())
	default:
		clear(l.acc[:])
		for m := hears; m != 0; m &= m - 1 {
			accumulate(&l.acc, legs[bits.TrailingZeros32(m)].frame())
		}
		saturate(&l.mix, &l.acc)
	}
	e.encode(l.codec, &l.enc, &l.mix)
}
