package mixer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestJitterClockDrift runs one simulated hour of a sender whose clock is
// 0.5% fast or slow, with a few ms of network jitter, against the 20 ms
// playout clock. The buffer must neither grow nor starve without bound: it
// drops (fast sender) or inserts (slow sender) about one frame in 200.
func TestJitterClockDrift(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drift float64 // sender period = 20 ms × (1 + drift)
	}{
		{"fast", -0.005},
		{"slow", +0.005},
		{"exact", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const pops = int(time.Hour / FrameDuration)
			jb := newTestBuffer()
			rng := rand.New(rand.NewPCG(5, 6))
			tk := newTalker(CodecPCMU, toneCustomer, 9, 0, 0)
			period := time.Duration(float64(FrameDuration) * (1 + tc.drift))
			var f Frame
			sent := 0
			maxDepth := 0
			for n := range pops {
				now := time.Duration(n) * FrameDuration
				for {
					at := time.Duration(sent)*period + time.Duration(rng.IntN(5000))*time.Microsecond
					if at > now {
						break
					}
					p := tk.next(at)
					jb.Push(p.payload, p.seq, p.ts, p.ssrc, false, epoch.Add(at))
					sent++
				}
				if n > 1000 {
					maxDepth = max(maxDepth, jb.Depth())
				}
				jb.Pop(epoch.Add(now), &f)
			}
			st := jb.Stats()
			if got := pops1(st); got != uint64(pops) {
				t.Fatalf("pops accounted %d, want %d", got, pops)
			}
			if maxDepth > jb.Target()+2 {
				t.Errorf("depth reached %d frames, target %d: the buffer grew", maxDepth, jb.Target())
			}
			// One frame in 200 is the drift; allow 50% slack for jitter.
			want := uint64(float64(pops) * 0.005)
			adjust := st.DroppedOverflow + st.Inserted + st.Concealed
			if tc.drift == 0 {
				want = 0
			}
			if adjust > want*3/2+20 {
				t.Errorf("stats %+v: %d frames dropped/inserted/concealed, want about %d", st, adjust, want)
			}
			if tc.drift < 0 && st.DroppedOverflow < want/2 {
				t.Errorf("fast sender: dropped %d, want about %d", st.DroppedOverflow, want)
			}
			if tc.drift > 0 && st.Inserted < want/2 {
				t.Errorf("slow sender: inserted %d, want about %d", st.Inserted, want)
			}
			if st.Late != 0 {
				t.Errorf("late %d, want 0: drift must not turn into losses", st.Late)
			}
			t.Logf("%s: %+v max depth %d target %d", tc.name, st, maxDepth, jb.Target())
		})
	}
}

// TestJitterImpairedInputStillCleanTone pushes a tone through 5% random loss
// and up to 40 ms of random delay (which reorders packets) and checks that
// what comes out is still the tone, clean of other frequencies.
func TestJitterImpairedInputStillCleanTone(t *testing.T) {
	for _, c := range []Codec{CodecPCMU, CodecPCMA} {
		t.Run(c.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			jb := NewJitterBuffer(c, JitterConfig{})
			tk := newTalker(c, toneAgent, 3, 0, 0)
			const n = 500 // 10 s
			var pkts []pkt
			for i := range n {
				p := tk.next(time.Duration(i)*FrameDuration + time.Duration(rng.IntN(40_000))*time.Microsecond)
				if rng.IntN(100) < 5 {
					continue
				}
				pkts = append(pkts, p)
			}
			out := playout(t, jb, pkts, 20*time.Millisecond, n+20)
			st := jb.Stats()
			if st.Reordered == 0 {
				t.Errorf("stats %+v: the test should reorder packets", st)
			}
			if st.Played < n*90/100 {
				t.Errorf("played %d of %d", st.Played, n)
			}
			// Measure the middle 8 s, away from start-up and the end.
			mid := out[SampleRate : 9*SampleRate]
			if l := levelAll(mid, toneAgent); l < heardDB {
				t.Errorf("tone at %.1f dBFS, want above %v", l, heardDB)
			}
			for _, f := range []float64{toneCustomer, toneSup, toneSup2} {
				if l := levelAll(mid, f); l > absentDB {
					t.Errorf("%v Hz at %.1f dBFS, want below %v", f, l, absentDB)
				}
			}
			t.Logf("%s: %+v target %d", c, st, jb.Target())
		})
	}
}
