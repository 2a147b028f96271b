package mixer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// arrivals every 20 ms at a phase of 5 ms before each pop.
const phase = 15 * time.Millisecond

func newTestBuffer() *JitterBuffer { return NewJitterBuffer(CodecPCMU, JitterConfig{}) }

func TestJitterInOrderPlaysEveryPacket(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 100, 1000)
	pkts := tk.stream(100, phase, FrameDuration)
	out := playout(t, jb, pkts, 20*time.Millisecond, 100)
	st := jb.Stats()
	if st.Played < 97 || st.Concealed != 0 || st.Late != 0 || st.DroppedOverflow != 0 {
		t.Errorf("stats %+v: want ~all played, nothing concealed, late or dropped", st)
	}
	// Two frames (the minimum target) before each pop, one after.
	if got := jb.Depth(); got != 1 {
		t.Errorf("depth after the last pop = %d, want 1", got)
	}
	if l := level(out, toneCustomer); l < heardDB {
		t.Errorf("tone level %.1f dBFS, want > %v", l, heardDB)
	}
}

func TestJitterOutputIsDecodedPayload(t *testing.T) {
	jb := newTestBuffer()
	payload := make([]byte, FrameSamples)
	for i := range payload {
		payload[i] = byte(i)
	}
	jb.Push(payload, 1, 0, 7, false, epoch)
	jb.Push(payload, 2, 160, 7, false, epoch)
	var f Frame
	jb.Pop(epoch, &f)
	for i, b := range payload {
		if want := CodecPCMU.decodeSample(b); f[i] != want {
			t.Fatalf("sample %d = %d, want %d", i, f[i], want)
		}
	}
}

func TestJitterReorderedPacketsAllPlay(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(200, phase, FrameDuration)
	for i := 10; i+1 < len(pkts); i += 7 {
		pkts[i].at, pkts[i+1].at = pkts[i+1].at, pkts[i].at+time.Millisecond
	}
	playout(t, jb, pkts, 20*time.Millisecond, 205)
	st := jb.Stats()
	if st.Reordered == 0 || st.Concealed != 0 || st.Late != 0 {
		t.Errorf("stats %+v: want reordering seen, nothing concealed or late", st)
	}
	if st.Played != 200 {
		t.Errorf("played %d, want all 200", st.Played)
	}
}

func TestJitterDropsDuplicates(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(50, phase, FrameDuration)
	var dup []pkt
	for i, p := range pkts {
		dup = append(dup, p)
		if i%5 == 0 {
			p.at += 2 * time.Millisecond // a copy before playout
			dup = append(dup, p)
		}
		if i%5 == 1 {
			p.at += 200 * time.Millisecond // a copy long after playout
			dup = append(dup, p)
		}
	}
	playout(t, jb, dup, 20*time.Millisecond, 60)
	st := jb.Stats()
	if st.Duplicate != 20 || st.Late != 0 {
		t.Errorf("duplicate %d late %d, want 20 and 0", st.Duplicate, st.Late)
	}
	if st.Played != 50 {
		t.Errorf("played %d, want 50", st.Played)
	}
}

func TestJitterLatePacketIsDroppedAndConcealed(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(100, phase, FrameDuration)
	pkts[50].at += 300 * time.Millisecond
	playout(t, jb, pkts, 20*time.Millisecond, 110)
	st := jb.Stats()
	if st.Late != 1 || st.Concealed != 1 {
		t.Errorf("late %d concealed %d, want 1 and 1", st.Late, st.Concealed)
	}
	if jb.Target() <= jb.minFrames {
		t.Errorf("target %d: a late packet should raise it above the minimum %d", jb.Target(), jb.minFrames)
	}
}

func TestJitterLossIsConcealedWithFade(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(100, phase, FrameDuration)
	const lost0, lostN = 40, 10
	pkts = append(pkts[:lost0], pkts[lost0+lostN:]...)
	out := playout(t, jb, pkts, 20*time.Millisecond, 100)
	st := jb.Stats()
	// A burst at the tail of the buffer is bridged by frames inserted
	// while it ran dry; either way exactly lostN frames are synthesised.
	if got := st.Concealed + st.Inserted + st.Silence - 1; got != lostN {
		t.Fatalf("stats %+v: want %d frames synthesised after the 1 of prefetch", st, lostN)
	}
	// Find the concealed run: the frames whose energy is below the tone's.
	energy := func(n int) float64 {
		var e float64
		for _, s := range out[n*FrameSamples : (n+1)*FrameSamples] {
			e += float64(s) * float64(s)
		}
		return e
	}
	full := energy(30)
	start := -1
	for n := 30; n < 70; n++ {
		if energy(n) < 0.95*full {
			start = n
			break
		}
	}
	if start < 0 {
		t.Fatal("no concealment found in output")
	}
	prev := full
	for k := range lostN {
		e := energy(start + k)
		switch {
		case k < concealFrames:
			if e <= 0 || e >= prev {
				t.Errorf("concealed frame %d energy %.3g, want below previous %.3g and above 0", k, e, prev)
			}
		default:
			if e != 0 {
				t.Errorf("concealed frame %d energy %.3g, want silence after the fade", k, e)
			}
		}
		prev = e
	}
	if e := energy(start + lostN); e < 0.95*full {
		t.Errorf("frame after the loss has energy %.3g, want the tone back (%.3g)", e, full)
	}
}

func TestJitterSSRCChangeResets(t *testing.T) {
	jb := newTestBuffer()
	a := newTalker(CodecPCMU, toneCustomer, 1, 1000, 5000)
	b := newTalker(CodecPCMU, toneAgent, 2, 40000, 9_000_000)
	pkts := append(a.stream(50, phase, FrameDuration), b.stream(100, phase+50*FrameDuration, FrameDuration)...)
	out := playout(t, jb, pkts, 20*time.Millisecond, 150)
	st := jb.Stats()
	if st.SSRCChanges != 1 {
		t.Errorf("ssrc changes %d, want 1", st.SSRCChanges)
	}
	if st.Late != 0 || st.DroppedOverflow != 0 || st.Played < 145 {
		t.Errorf("stats %+v: want the new stream played in full", st)
	}
	if l := level(out, toneAgent); l < heardDB {
		t.Errorf("new stream's tone at %.1f dBFS, want heard", l)
	}
}

func TestJitterTimestampJumpKeepsEstimate(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(50, phase, FrameDuration)
	tk.ts += 123_456_789 // the sender's clock jumps, numbering does not
	pkts = append(pkts, tk.stream(50, phase+50*FrameDuration, FrameDuration)...)
	playout(t, jb, pkts, 20*time.Millisecond, 100)
	st := jb.Stats()
	if st.Concealed != 0 || st.Late != 0 || st.Played < 97 {
		t.Errorf("stats %+v: want every packet played", st)
	}
	if j := jb.Jitter(); j > time.Millisecond {
		t.Errorf("jitter estimate %v after a timestamp jump, want ~0", j)
	}
}

func TestJitterSequenceWrapAround(t *testing.T) {
	tk := newTalker(CodecPCMA, toneCustomer, 1, 65500, 4294960000)
	jb := NewJitterBuffer(CodecPCMA, JitterConfig{})
	pkts := tk.stream(100, phase, FrameDuration)
	pkts[35].at, pkts[36].at = pkts[36].at, pkts[35].at // reorder across the wrap
	playout(t, jb, pkts, 20*time.Millisecond, 103)
	st := jb.Stats()
	if st.Played != 100 || st.Concealed != 0 || st.Late != 0 || st.Resyncs != 0 {
		t.Errorf("stats %+v: want all 100 played across the wrap", st)
	}
}

func TestJitterSequenceJumpResyncs(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(50, phase, FrameDuration)
	tk.seq += 20000 // same SSRC, new numbering
	pkts = append(pkts, tk.stream(50, phase+50*FrameDuration, FrameDuration)...)
	out := playout(t, jb, pkts, 20*time.Millisecond, 100)
	st := jb.Stats()
	if st.Resyncs != 1 {
		t.Errorf("resyncs %d, want 1", st.Resyncs)
	}
	if st.Played < 94 {
		t.Errorf("played %d, want the new numbering played too", st.Played)
	}
	if l := level(out, toneCustomer); l < heardDB {
		t.Errorf("tone at %.1f dBFS after the jump, want heard", l)
	}
}

func TestJitterMarkerRestartsAtTarget(t *testing.T) {
	jb := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	// A talkspurt with heavy jitter grows the delay...
	pkts := tk.stream(100, phase, FrameDuration)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range pkts {
		pkts[i].at += time.Duration(rng.IntN(100)) * time.Millisecond
	}
	// ...then 2 s of silence (DTX: timestamps jump, numbers do not) and
	// a steady talkspurt that starts with a marker.
	tk.ts += 2 * SampleRate
	steady := tk.stream(200, phase+(100+100)*FrameDuration, FrameDuration)
	steady[0].marker = true
	pkts = append(pkts, steady...)
	playout(t, jb, pkts, 20*time.Millisecond, 420)
	if d, tg := jb.Depth(), jb.Target(); d > tg {
		t.Errorf("depth %d after a steady talkspurt, want at most target %d", d, tg)
	}
}

func TestJitterTargetFollowsJitter(t *testing.T) {
	steady := newTestBuffer()
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	playout(t, steady, tk.stream(500, phase, FrameDuration), 20*time.Millisecond, 500)

	jittery := newTestBuffer()
	tk = newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	pkts := tk.stream(500, phase, FrameDuration)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range pkts {
		pkts[i].at += time.Duration(rng.IntN(60)) * time.Millisecond
	}
	playout(t, jittery, pkts, 20*time.Millisecond, 500)
	if steady.Target() != steady.minFrames {
		t.Errorf("steady target %d, want minimum %d", steady.Target(), steady.minFrames)
	}
	if jittery.Target() <= steady.Target() || jittery.Target() > jittery.maxFrames {
		t.Errorf("jittery target %d, want above %d and at most %d", jittery.Target(), steady.Target(), jittery.maxFrames)
	}
}

func TestJitterConfigFrames(t *testing.T) {
	for _, tc := range []struct {
		cfg      JitterConfig
		min, max int
	}{
		{JitterConfig{}, 2, 15},
		{JitterConfig{MinDepth: 10 * time.Millisecond, MaxDepth: 100 * time.Millisecond}, 1, 5},
		{JitterConfig{MinDepth: 200 * time.Millisecond, MaxDepth: 100 * time.Millisecond}, 10, 10},
		{JitterConfig{MinDepth: 10 * time.Second, MaxDepth: 10 * time.Second}, maxMaxFrames, maxMaxFrames},
	} {
		lo, hi := tc.cfg.frames()
		if lo != tc.min || hi != tc.max {
			t.Errorf("%+v: frames %d..%d, want %d..%d", tc.cfg, lo, hi, tc.min, tc.max)
		}
	}
}
