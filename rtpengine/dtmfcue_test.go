package rtpengine

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// Each telephone-event is reported once, however many packets carry it:
// the usual start/continue/3×end, an event whose start packets were lost,
// the same key twice in a row (two events), and none are forwarded.
func TestSupervisorDigits(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	sup := newTonePhone(t, mixer.CodecPCMU, 1250)
	s := toneCall(t, e, cust, agent)
	var mu sync.Mutex
	var got []byte
	digits := make(chan struct{}, 16)
	l := supervisor(t, s, sup, func(d byte) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
		digits <- struct{}{}
	})
	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	press := func(code byte, ts uint32, withStart bool) {
		if withStart {
			for i := range 3 {
				sup.event(code, false, uint16(160*(i+1)), ts)
			}
		}
		for range 3 {
			sup.event(code, true, 800, ts)
		}
	}
	press(5, 1000, true)
	press(5, 3000, true)
	press(11, 5000, true)
	press(15, 7000, false) // 'D', start lost
	press(1, 9000, true)   // sentinel: once it is in, every earlier packet was handled
	deadline := time.After(rxTimeout)
	for n := 0; n < 5; n++ {
		select {
		case <-digits:
		case <-deadline:
			t.Fatalf("digits so far %q", got)
		}
	}
	// The sentinel's own end packets follow it: let a little more audio
	// pass so they are handled too.
	sup.listenFor(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if string(got) != "55#D1" {
		t.Fatalf("digits %q, want \"55#D1\"", got)
	}
	for _, p := range append(cust.packets(), agent.packets()...) {
		if p.h.PayloadType == 101 {
			t.Fatal("a supervisor's telephone-event was forwarded")
		}
	}
}

// A cue is heard on the leg it is played to and nowhere else.
func TestCueOnTargetLegOnly(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	sup := newTonePhone(t, mixer.CodecPCMA, 1250)
	s := toneCall(t, e, cust, agent)
	l := supervisor(t, s, sup, nil)
	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	measure(cust, agent, sup)
	phones := []*tonePhone{cust, agent, sup}
	for _, tc := range []struct {
		leg    int
		target *tonePhone
		cue    Cue
		freq   float64
	}{
		{l.ID(), sup, CueError, 440},
		{1, agent, CueNotify, 1900},
		{0, cust, CueBeep, 1900},
	} {
		from := make([]int, len(phones))
		for i, p := range phones {
			from[i] = p.samples()
		}
		if err := s.Cue(tc.leg, tc.cue); err != nil {
			t.Fatal(err)
		}
		for i, p := range phones {
			p.waitSamples(from[i] + 8*800)
			db := p.maxPower(tc.freq, from[i], 8*800, 8*60)
			if p == tc.target && db < heardDB {
				t.Errorf("cue %v on leg %d: target hears %.1f dBFS", tc.cue, tc.leg, db)
			}
			if p != tc.target && db > absentDB {
				t.Errorf("cue %v on leg %d: phone %v Hz hears it at %.1f dBFS", tc.cue, tc.leg, p.freq, db)
			}
		}
	}
	if err := s.Cue(99, CueBeep); !errors.Is(err, ErrBadLeg) {
		t.Fatalf("Cue on an unknown leg: %v", err)
	}
	if err := s.Cue(0, Cue(0)); !errors.Is(err, ErrBadCue) {
		t.Fatalf("Cue 0: %v", err)
	}
}

// mixerGoroutines lists the mixer pool's workers.
func mixerGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/earshot/earshot/mixer.") {
			found = append(found, g)
		}
	}
	return found
}

// Session.Close frees extra legs too, and Engine.Close leaves no reader
// and no mixer worker behind.
func TestCloseWithExtraLegs(t *testing.T) {
	before := len(mixerGoroutines())
	e := testEngine(t, func(c *Config) { c.Mixer.Workers = 2 }, nil)
	if n := len(mixerGoroutines()) - before; n != 2 {
		t.Fatalf("%d mixer workers, want 2", n)
	}
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	s := toneCall(t, e, cust, agent)
	a := supervisor(t, s, newTonePhone(t, mixer.CodecPCMU, 1250), nil)
	supervisor(t, s, newTonePhone(t, mixer.CodecPCMA, 1700), nil)
	if err := a.Attach(mixer.ModeBarge); err != nil {
		t.Fatal(err)
	}
	measure(cust)
	if st := e.Stats(); st.PortsInUse != 8 || st.MixedSessions != 1 || st.Mixer.Sessions != 1 || st.Mixer.Legs != 3 {
		t.Fatalf("stats while mixed: ports %d, mixed %d, mixer sessions %d legs %d",
			st.PortsInUse, st.MixedSessions, st.Mixer.Sessions, st.Mixer.Legs)
	}
	s.Close()
	if st := e.Stats(); st.PortsInUse != 0 || st.MixedSessions != 0 || st.Mixer.Sessions != 0 || st.SessionsActive != 0 {
		t.Fatalf("stats after Session.Close %+v", st)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Leg.Close after Session.Close: %v", err)
	}
	if _, err := s.NewLeg(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewLeg on a closed session: %v", err)
	}
	e.Close()
	// Close waited for every worker and reader; one that has signalled
	// its WaitGroup may still be a few instructions from exiting.
	deadline := time.Now().Add(2 * time.Second)
	left := func() int {
		n := len(mixerGoroutines()) - before
		for _, g := range engineGoroutines() {
			if strings.Contains(g, "rtpengine.(*Session).start") {
				n++
			}
		}
		return n
	}
	for left() > 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := left(); n > 0 {
		t.Fatalf("%d goroutines left after Close:\n%s", n, strings.Join(append(mixerGoroutines(), engineGoroutines()...), "\n\n"))
	}
}
