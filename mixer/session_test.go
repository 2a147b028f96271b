package mixer

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// captureSink keeps every frame written, per leg.
type captureSink struct {
	out    map[LegID][]byte
	frames map[LegID]int
}

func newCaptureSink() *captureSink {
	return &captureSink{out: map[LegID][]byte{}, frames: map[LegID]int{}}
}

func (c *captureSink) WriteFrame(leg LegID, payload []byte) {
	if len(payload) != FrameSamples {
		panic(fmt.Sprintf("leg %d got a %d-byte frame", leg, len(payload)))
	}
	c.out[leg] = append(c.out[leg], payload...)
	c.frames[leg]++
}

// decoded returns what leg received, as PCM.
func (c *captureSink) decoded(leg LegID, codec Codec) []int16 {
	pcm := make([]int16, len(c.out[leg]))
	for i, b := range c.out[leg] {
		pcm[i] = codec.decodeSample(b)
	}
	return pcm
}

// party is one leg of a tone scenario.
type party struct {
	cfg  LegConfig
	freq float64
}

// runTones ticks a standalone session for ticks frames, each leg speaking
// its tone with packets arriving 5 ms before each tick.
func runTones(t *testing.T, s *Session, parties []party, talkers []*talker, ticks int, start int) {
	t.Helper()
	for n := start; n < start+ticks; n++ {
		now := epoch.Add(time.Duration(n) * FrameDuration)
		for i, p := range parties {
			pk := talkers[i].next(0)
			if l := s.Leg(p.cfg.ID); l != nil {
				l.Push(pk.payload, pk.seq, pk.ts, pk.ssrc, false, now.Add(-5*time.Millisecond))
			}
		}
		if err := s.Tick(now); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMixTones runs every mode and several supervisor combinations with each
// party speaking its own tone in mixed codecs, and checks with a Goertzel
// filter what each leg's output contains.
func TestMixTones(t *testing.T) {
	c := party{LegConfig{ID: 10, Role: RoleCustomer, Codec: CodecPCMU}, toneCustomer}
	a := party{LegConfig{ID: 20, Role: RoleAgent, Codec: CodecPCMA}, toneAgent}
	s1 := func(m Mode) party {
		return party{LegConfig{ID: 30, Role: RoleSupervisor, Mode: m, Codec: CodecPCMU}, toneSup}
	}
	s2 := func(m Mode) party {
		return party{LegConfig{ID: 40, Role: RoleSupervisor, Mode: m, Codec: CodecPCMA}, toneSup2}
	}
	for _, tc := range []struct {
		name    string
		parties []party
		heard   [][]int // per leg, indexes of the parties whose tone it must hear
	}{
		{"listen", []party{c, a, s1(ModeListen)}, [][]int{{1}, {0}, {0, 1}}},
		{"whisper", []party{c, a, s1(ModeWhisper)}, [][]int{{1}, {0, 2}, {0, 1}}},
		{"barge", []party{c, a, s1(ModeBarge)}, [][]int{{1, 2}, {0, 2}, {0, 1}}},
		{"intercept", []party{c, a, s1(ModeIntercept)}, [][]int{{2}, {}, {0}}},
		{"two whisperers", []party{c, a, s1(ModeWhisper), s2(ModeWhisper)},
			[][]int{{1}, {0, 2, 3}, {0, 1}, {0, 1}}},
		{"listener and barger", []party{c, a, s1(ModeListen), s2(ModeBarge)},
			[][]int{{1, 3}, {0, 3}, {0, 1, 3}, {0, 1}}},
		{"listener and whisperer", []party{c, a, s1(ModeListen), s2(ModeWhisper)},
			[][]int{{1}, {0, 3}, {0, 1}, {0, 1}}},
		{"intercept and barger", []party{c, a, s1(ModeIntercept), s2(ModeBarge)},
			[][]int{{2, 3}, {}, {0, 3}, {0, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newCaptureSink()
			s, err := NewSession(SessionConfig{Sink: sink})
			if err != nil {
				t.Fatal(err)
			}
			var talkers []*talker
			for i, p := range tc.parties {
				if _, err := s.AddLeg(p.cfg); err != nil {
					t.Fatal(err)
				}
				talkers = append(talkers, newTalker(p.cfg.Codec, p.freq, uint32(100+i), uint16(1000*i), uint32(7777*i)))
			}
			const ticks = 75 // 1.5 s; the last second is measured
			runTones(t, s, tc.parties, talkers, ticks, 0)
			for r, rp := range tc.parties {
				if got := sink.frames[rp.cfg.ID]; got != ticks {
					t.Errorf("leg %d got %d frames, want one per tick (%d)", r, got, ticks)
				}
				pcm := sink.decoded(rp.cfg.ID, rp.cfg.Codec)
				for src, sp := range tc.parties {
					l := level(pcm, sp.freq)
					want := slices.Contains(tc.heard[r], src)
					switch {
					case want && l < heardDB:
						t.Errorf("%v should hear %v: its tone is at %.1f dBFS", rp.cfg.Role, sp.cfg.Role, l)
					case !want && l > absentDB:
						t.Errorf("%v (%v) must not hear leg %d (%v %v): its tone is at %.1f dBFS",
							rp.cfg.Role, rp.cfg.Mode, src, sp.cfg.Role, sp.cfg.Mode, l)
					}
				}
			}
		})
	}
}

// TestMixModeSwitch switches a supervisor from listen to barge mid-call: the
// customer starts hearing the supervisor at the next tick.
func TestMixModeSwitch(t *testing.T) {
	c := party{LegConfig{ID: 1, Role: RoleCustomer, Codec: CodecPCMA}, toneCustomer}
	a := party{LegConfig{ID: 2, Role: RoleAgent, Codec: CodecPCMU}, toneAgent}
	sv := party{LegConfig{ID: 3, Role: RoleSupervisor, Mode: ModeListen, Codec: CodecPCMU}, toneSup}
	parties := []party{c, a, sv}
	sink := newCaptureSink()
	s, _ := NewSession(SessionConfig{Sink: sink})
	var talkers []*talker
	for i, p := range parties {
		if _, err := s.AddLeg(p.cfg); err != nil {
			t.Fatal(err)
		}
		talkers = append(talkers, newTalker(p.cfg.Codec, p.freq, uint32(i+1), 0, 0))
	}
	runTones(t, s, parties, talkers, 60, 0)
	if l := level(sink.decoded(1, CodecPCMA), toneSup); l > absentDB {
		t.Fatalf("customer hears the listening supervisor at %.1f dBFS", l)
	}
	if err := s.SetMode(3, ModeBarge); err != nil {
		t.Fatal(err)
	}
	sink.out[1] = nil
	runTones(t, s, parties, talkers, 60, 60)
	if l := level(sink.decoded(1, CodecPCMA), toneSup); l < heardDB {
		t.Errorf("customer does not hear the barging supervisor: %.1f dBFS", l)
	}
	// Removing the supervisor takes it out of everyone's mix.
	if err := s.RemoveLeg(3); err != nil {
		t.Fatal(err)
	}
	sink.out[1] = nil
	runTones(t, s, parties, talkers, 60, 120)
	if l := level(sink.decoded(1, CodecPCMA), toneSup); l > absentDB {
		t.Errorf("customer still hears the removed supervisor at %.1f dBFS", l)
	}
	if sink.frames[3] != 120 {
		t.Errorf("removed leg got %d frames, want 120 (none after removal)", sink.frames[3])
	}
}

// TestBypass bypasses the customer and the agent while a supervisor
// listens, as the RTP engine does: no frame is made for them, the
// supervisor still hears both, and turning the bypass off mid-call gives
// the agent the mix again from the next tick.
func TestBypass(t *testing.T) {
	c := party{LegConfig{ID: 1, Role: RoleCustomer, Codec: CodecPCMU, Bypass: true}, toneCustomer}
	a := party{LegConfig{ID: 2, Role: RoleAgent, Codec: CodecPCMA, Bypass: true}, toneAgent}
	sv := party{LegConfig{ID: 3, Role: RoleSupervisor, Mode: ModeListen, Codec: CodecPCMU}, toneSup}
	parties := []party{c, a, sv}
	sink := newCaptureSink()
	s, _ := NewSession(SessionConfig{Sink: sink})
	var talkers []*talker
	for i, p := range parties {
		if _, err := s.AddLeg(p.cfg); err != nil {
			t.Fatal(err)
		}
		talkers = append(talkers, newTalker(p.cfg.Codec, p.freq, uint32(i+1), 0, 0))
	}
	runTones(t, s, parties, talkers, 60, 0)
	if sink.frames[1] != 0 || sink.frames[2] != 0 || sink.frames[3] != 60 {
		t.Fatalf("frames customer %d, agent %d, supervisor %d; want 0, 0, 60", sink.frames[1], sink.frames[2], sink.frames[3])
	}
	sup := sink.decoded(3, CodecPCMU)
	for _, f := range []float64{toneCustomer, toneAgent} {
		if l := level(sup, f); l < heardDB {
			t.Errorf("the supervisor does not hear %.0f Hz beside bypassed legs: %.1f dBFS", f, l)
		}
	}
	var st Stats
	s.own.addTo(&st)
	if st.FramesOut != 60 {
		t.Errorf("frames out %d, want 60 (bypassed legs get none)", st.FramesOut)
	}
	// Whisper with the agent's bypass off: the agent hears the customer
	// and the supervisor from the next tick, every tick.
	if err := s.SetMode(3, ModeWhisper); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBypass(2, false); err != nil {
		t.Fatal(err)
	}
	runTones(t, s, parties, talkers, 60, 60)
	if sink.frames[1] != 0 || sink.frames[2] != 60 {
		t.Fatalf("after the switch: frames customer %d, agent %d; want 0, 60", sink.frames[1], sink.frames[2])
	}
	agent := sink.decoded(2, CodecPCMA)
	for _, f := range []float64{toneCustomer, toneSup} {
		if l := level(agent, f); l < heardDB {
			t.Errorf("the agent does not hear %.0f Hz after its bypass ended: %.1f dBFS", f, l)
		}
	}
	if err := s.SetBypass(2, true); err != nil {
		t.Fatal(err)
	}
	runTones(t, s, parties, talkers, 10, 120)
	if sink.frames[2] != 60 {
		t.Errorf("the agent got %d frames, want 60 (none once bypassed again)", sink.frames[2])
	}
	if err := s.SetBypass(9, true); !errors.Is(err, ErrUnknownLeg) {
		t.Errorf("SetBypass of an unknown leg: %v, want ErrUnknownLeg", err)
	}
}

func TestSessionControlErrors(t *testing.T) {
	s, err := NewSession(SessionConfig{Sink: newCaptureSink()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(SessionConfig{}); err == nil {
		t.Error("session without a sink accepted")
	}
	for _, tc := range []struct {
		cfg  LegConfig
		want error
	}{
		{LegConfig{ID: 1, Role: RoleCustomer, Codec: CodecPCMU}, nil},
		{LegConfig{ID: 1, Role: RoleAgent, Codec: CodecPCMU}, ErrDuplicateLeg},
		{LegConfig{ID: 2, Role: RoleAgent, Codec: Codec(7)}, ErrUnsupportedCodec},
		{LegConfig{ID: 2, Role: RoleAgent, Mode: ModeBarge, Codec: CodecPCMU}, ErrInvalidParty},
		{LegConfig{ID: 2, Role: RoleSupervisor, Codec: CodecPCMU}, ErrInvalidParty},
		{LegConfig{ID: 2, Codec: CodecPCMU}, ErrInvalidParty},
		{LegConfig{ID: 2, Role: RoleSupervisor, Mode: ModeListen, Codec: CodecPCMA}, nil},
	} {
		if _, err := s.AddLeg(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("AddLeg(%+v) = %v, want %v", tc.cfg, err, tc.want)
		}
	}
	if err := s.SetMode(1, ModeBarge); !errors.Is(err, ErrInvalidParty) {
		t.Errorf("customer to barge: %v, want ErrInvalidParty", err)
	}
	if err := s.SetMode(2, ModeNone); !errors.Is(err, ErrInvalidParty) {
		t.Errorf("supervisor to no mode: %v, want ErrInvalidParty", err)
	}
	if err := s.SetMode(9, ModeBarge); !errors.Is(err, ErrUnknownLeg) {
		t.Errorf("unknown leg: %v, want ErrUnknownLeg", err)
	}
	if err := s.RemoveLeg(9); !errors.Is(err, ErrUnknownLeg) {
		t.Errorf("remove unknown leg: %v, want ErrUnknownLeg", err)
	}
	if got := s.Parties(); len(got) != 2 || got[2] != sup(ModeListen) {
		t.Errorf("parties %v", got)
	}
	l := s.Leg(1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.AddLeg(LegConfig{ID: 5, Role: RoleAgent, Codec: CodecPCMU}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddLeg after Close: %v, want ErrClosed", err)
	}
	if l.Push(make([]byte, 160), 1, 1, 1, false, epoch) {
		t.Error("Push to a leg of a closed session accepted")
	}
	if s.Push(1, make([]byte, 160), 1, 1, 1, false, epoch) {
		t.Error("Push by id to a closed session accepted")
	}
}

func TestSessionTooManyLegs(t *testing.T) {
	s, _ := NewSession(SessionConfig{Sink: newCaptureSink()})
	for i := range MaxLegs {
		if _, err := s.AddLeg(LegConfig{ID: LegID(i), Role: RoleSupervisor, Mode: ModeListen, Codec: CodecPCMU}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.AddLeg(LegConfig{ID: MaxLegs, Role: RoleSupervisor, Mode: ModeListen, Codec: CodecPCMU})
	if !errors.Is(err, ErrTooManyLegs) {
		t.Errorf("leg %d: %v, want ErrTooManyLegs", MaxLegs+1, err)
	}
}

// TestInboxFullDropsAndCounts checks that a leg whose worker does not drain
// it drops packets instead of blocking the reader.
func TestInboxFullDropsAndCounts(t *testing.T) {
	s, _ := NewSession(SessionConfig{Sink: newCaptureSink()})
	l, _ := s.AddLeg(LegConfig{ID: 1, Role: RoleCustomer, Codec: CodecPCMU})
	p := make([]byte, FrameSamples)
	accepted := 0
	for i := range inboxSize + 10 {
		if l.Push(p, uint16(i), uint32(i*160), 1, false, epoch) {
			accepted++
		}
	}
	if accepted != inboxSize || l.Dropped() != 10 {
		t.Errorf("accepted %d dropped %d, want %d and 10", accepted, l.Dropped(), inboxSize)
	}
	if err := s.Tick(epoch); err != nil {
		t.Fatal(err)
	}
	if !l.Push(p, 100, 100*160, 1, false, epoch) {
		t.Error("Push after a tick drained the inbox was dropped")
	}
}
