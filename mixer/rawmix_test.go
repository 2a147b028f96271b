package mixer

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// TestEncoderByteTables checks every entry of the byte tables against
// g711's own functions: recode is decode then encode, pair is decode both,
// add with saturation, encode.
func TestEncoderByteTables(t *testing.T) {
	e := newEncoder()
	codecs := []Codec{CodecPCMU, CodecPCMA}
	enc := func(c Codec, v int32) byte {
		v = min(max(v, -32768), 32767)
		if c == CodecPCMA {
			return g711.EncodeAlawFrame(int16(v))
		}
		return g711.EncodeUlawFrame(int16(v))
	}
	for _, f := range codecs {
		for _, to := range codecs {
			for b := range 256 {
				if got, want := e.recode[codecIndex(f)][codecIndex(to)][b], enc(to, int32(f.decodeSample(byte(b)))); got != want {
					t.Fatalf("recode %v→%v of %#x: %#x, want %#x", f, to, b, got, want)
				}
			}
		}
		for a := range 256 {
			for b := range 256 {
				want := enc(f, int32(f.decodeSample(byte(a)))+int32(f.decodeSample(byte(b))))
				if got := e.pair[codecIndex(f)][a<<8|b]; got != want {
					t.Fatalf("%v: pair %#x+%#x is %#x, want %#x", f, a, b, got, want)
				}
			}
		}
	}
}

// TestG711AddIntoMatchesG711 checks AddInto against g711's own functions
// for every byte of both codecs under samples across the whole range,
// saturation included.
func TestG711AddIntoMatchesG711(t *testing.T) {
	g := NewG711()
	for _, c := range []Codec{CodecPCMU, CodecPCMA} {
		for v := -32768; v <= 32767; v += 61 {
			payload := make([]byte, 256)
			pcm := make([]int16, 256)
			for b := range payload {
				payload[b], pcm[b] = byte(b), int16(v)
			}
			g.AddInto(c, payload, pcm)
			for b, got := range payload {
				sum := int16(min(max(int32(c.decodeSample(byte(b)))+int32(v), -32768), 32767))
				want := g711.EncodeUlawFrame(sum)
				if c == CodecPCMA {
					want = g711.EncodeAlawFrame(sum)
				}
				if got != want {
					t.Fatalf("%v: byte %#x + %d gives %#x, want %#x", c, b, v, got, want)
				}
			}
		}
	}
}

// TestRawMixMatchesPCM checks the whole-frame shortcuts of the tick (frames
// not decoded unless a mix needs their samples, one- and two-source mixes
// by byte table) against the long way, frame by frame and byte by byte.
// Random sessions of two to five legs in random codecs and modes, some
// bypassed, speak random bytes with losses, reordering, short payloads,
// duplicates and SSRC changes; the oracle runs each leg's packets through
// its own JitterBuffer's Pop, which always decodes, sums what each leg
// hears as the session's hear-matrix says, and encodes with g711.
func TestRawMixMatchesPCM(t *testing.T) {
	var shortcuts [3]int // frames the ticks made by byte table, by sources
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			n := rawMixScenario(t, seed)
			shortcuts[1] += n[1]
			shortcuts[2] += n[2]
		})
	}
	// The comparison means something only if the shortcuts ran.
	if shortcuts[1] < 1000 || shortcuts[2] < 1000 {
		t.Errorf("frames made by byte table: %d from one source, %d from two; want ≥ 1000 of each", shortcuts[1], shortcuts[2])
	}
	t.Logf("frames made by byte table: %d from one source, %d from two", shortcuts[1], shortcuts[2])
}

// rawMixScenario runs one random session against the oracle and returns
// how many of its frames the tick made by byte table, by sources heard.
func rawMixScenario(t *testing.T, seed uint64) (shortcuts [3]int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sink := newCaptureSink()
	s, err := NewSession(SessionConfig{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	roles := []Party{{Role: RoleCustomer}, {Role: RoleAgent}}
	for range rng.IntN(4) {
		roles = append(roles, Party{Role: RoleSupervisor, Mode: Mode(1 + rng.IntN(int(ModeIntercept)))})
	}
	var legs []*rawStream
	for i, p := range roles {
		c := []Codec{CodecPCMU, CodecPCMA}[rng.IntN(2)]
		if seed%4 == 0 {
			c = CodecPCMU // some sessions in one codec throughout, where the pair table applies
		}
		l, err := s.AddLeg(LegConfig{ID: LegID(i + 1), Role: p.Role, Mode: p.Mode, Codec: c, Bypass: rng.IntN(5) == 0})
		if err != nil {
			t.Fatalf("leg %d (%v): %v", i+1, p, err)
		}
		legs = append(legs, &rawStream{l: l, oracle: NewJitterBuffer(c, JitterConfig{}), seq: uint16(rng.Uint32()), ts: rng.Uint32(), ssrc: rng.Uint32()})
	}
	tab := s.table.Load()
	pcm := make([]Frame, len(legs))
	frames := 0
	for n := range 400 {
		now := epoch.Add(time.Duration(n) * FrameDuration)
		for i, st := range legs {
			var send, hold []pkt
			switch r := rng.IntN(100); {
			case r < 4: // lost
				st.packet(rng)
			case r < 7: // reordered: arrives after the next
				hold = append(hold, st.packet(rng))
			case r < 8: // a new SSRC
				st.ssrc = rng.Uint32()
				send = append(send, st.packet(rng))
			case r < 10: // duplicated
				p := st.packet(rng)
				send = append(send, p, p)
			default:
				send = append(send, st.packet(rng))
			}
			send, st.held = append(send, st.held...), hold
			for _, p := range send {
				arrival := now.Add(-time.Duration(1+rng.IntN(15)) * time.Millisecond)
				st.l.Push(p.payload, p.seq, p.ts, p.ssrc, false, arrival)
				st.oracle.Push(p.payload, p.seq, p.ts, p.ssrc, false, arrival)
			}
			st.oracle.Pop(now, &pcm[i])
		}
		if err := s.Tick(now); err != nil {
			t.Fatal(err)
		}
		for r, st := range legs {
			if st.l.bypass.Load() {
				continue
			}
			var acc [FrameSamples]int32
			for src := range legs {
				if tab.hears[r]&(1<<src) != 0 {
					for k, v := range pcm[src] {
						acc[k] += int32(v)
					}
				}
			}
			var raw, same int
			for src := range legs {
				if tab.hears[r]&(1<<src) != 0 && legs[src].l.raw != nil {
					raw++
					if legs[src].l.codec == st.l.codec {
						same++
					}
				}
			}
			if k := bits.OnesCount32(tab.hears[r]); k == raw && (k == 1 || k == 2 && same == 2) {
				shortcuts[k]++
			}
			var sum Frame
			saturate(&sum, &acc)
			var want [FrameSamples]byte
			st.l.codec.encodeRef(&want, &sum)
			out := sink.out[st.l.id]
			got := out[len(out)-FrameSamples:]
			if string(got) != string(want[:]) {
				t.Fatalf("tick %d, leg %d (%v, %v, hears %b): frame differs from the long way\ngot  %x\nwant %x",
					n, r+1, tab.parties[r], st.l.codec, tab.hears[r], got, want)
			}
			frames++
		}
	}
	if frames == 0 {
		t.Fatal("no frame compared")
	}
	return shortcuts
}

// rawStream is one leg of a scenario and its oracle.
type rawStream struct {
	l      *Leg
	oracle *JitterBuffer
	seq    uint16
	ts     uint32
	ssrc   uint32
	held   []pkt // a packet kept back to arrive after the next
}

// packet makes the stream's next packet: random bytes, one in twenty of
// them shorter than a frame.
func (st *rawStream) packet(rng *rand.Rand) pkt {
	n := FrameSamples
	if rng.IntN(20) == 0 {
		n = 1 + rng.IntN(FrameSamples-1)
	}
	p := pkt{payload: make([]byte, n), seq: st.seq, ts: st.ts, ssrc: st.ssrc}
	for i := range p.payload {
		p.payload[i] = byte(rng.Uint32())
	}
	st.seq++
	st.ts += FrameSamples
	return p
}
