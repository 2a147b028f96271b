package mixer

import (
	"slices"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer/internal/tone"
)

// Test tones: one frequency per party. They are chosen so that no harmonic
// or intermodulation product up to the fifth order of any of them (which
// G.711's companding creates when two are mixed) lands within 50 Hz of
// another, so a one-second Goertzel measurement separates them cleanly.
const (
	toneCustomer = 700.0
	toneAgent    = 950.0
	toneSup      = 1250.0
	toneSup2     = 1700.0
	toneLevel    = -18.0 // dBFS per party: quiet enough that G.711 distortion products stay far below absentDB

	heardDB  = -35.0 // a tone above this reached the ear
	absentDB = -50.0 // a tone below this did not
)

// epoch is an arbitrary fixed origin for simulated time.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pkt is one simulated RTP packet and when it reaches the buffer.
type pkt struct {
	at      time.Duration
	seq     uint16
	ts      uint32
	ssrc    uint32
	marker  bool
	payload []byte
}

// talker produces the RTP stream of one party speaking a tone.
type talker struct {
	codec Codec
	sine  *tone.Sine
	seq   uint16
	ts    uint32
	ssrc  uint32
}

func newTalker(c Codec, freq float64, ssrc uint32, seq uint16, ts uint32) *talker {
	return &talker{codec: c, sine: tone.NewSine(freq, toneLevel, SampleRate), seq: seq, ts: ts, ssrc: ssrc}
}

// next returns the next packet of the stream, stamped to arrive at at.
func (tk *talker) next(at time.Duration) pkt {
	var f Frame
	tk.sine.Fill(f[:])
	var enc [FrameSamples]byte
	tk.codec.encodeRef(&enc, &f)
	p := pkt{at: at, seq: tk.seq, ts: tk.ts, ssrc: tk.ssrc, payload: enc[:]}
	tk.seq++
	tk.ts += FrameSamples
	return p
}

// stream returns n packets sent every interval starting at start.
func (tk *talker) stream(n int, start, interval time.Duration) []pkt {
	out := make([]pkt, n)
	for i := range out {
		out[i] = tk.next(start + time.Duration(i)*interval)
	}
	return out
}

// playout feeds pkts (in any order; they are sorted by arrival) to jb and
// pops once every 20 ms starting at first, for pops pops, returning the
// concatenated output.
func playout(t testing.TB, jb *JitterBuffer, pkts []pkt, first time.Duration, pops int) []int16 {
	t.Helper()
	pkts = slices.Clone(pkts)
	slices.SortStableFunc(pkts, func(a, b pkt) int { return int(a.at - b.at) })
	out := make([]int16, 0, pops*FrameSamples)
	var f Frame
	k := 0
	for n := range pops {
		now := first + time.Duration(n)*FrameDuration
		for ; k < len(pkts) && pkts[k].at <= now; k++ {
			p := pkts[k]
			jb.Push(p.payload, p.seq, p.ts, p.ssrc, p.marker, epoch.Add(p.at))
		}
		before := jb.Stats()
		jb.Pop(epoch.Add(now), &f)
		after := jb.Stats()
		if got := pops1(after) - pops1(before); got != 1 {
			t.Fatalf("pop %d counted %d outcomes, want exactly 1", n, got)
		}
		out = append(out, f[:]...)
	}
	return out
}

// pops1 is the number of pops a JitterStats accounts for.
func pops1(s JitterStats) uint64 { return s.Played + s.Concealed + s.Inserted + s.Silence }

// level measures freq in the last second (or all, if shorter) of pcm.
func level(pcm []int16, freq float64) float64 {
	if len(pcm) > SampleRate {
		pcm = pcm[len(pcm)-SampleRate:]
	}
	return tone.Level(pcm, freq, SampleRate)
}

// levelAll measures freq over all of pcm.
func levelAll(pcm []int16, freq float64) float64 { return tone.Level(pcm, freq, SampleRate) }
