package rtpengine

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an engine clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour))
	return c
}
func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestMediaTimeoutFiresOnce(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.MediaTimeout = 100 * time.Millisecond }, nil)
	a, b := newPhone(t), newPhone(t)
	var calls atomic.Int32
	fired := make(chan struct{})
	var once sync.Once
	call(t, e, a, b, func() {
		calls.Add(1)
		once.Do(func() { close(fired) })
	})
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("media timeout did not fire")
	}
	// Later checks must not fire it again.
	e.checkTimeouts(e.nanotime() + int64(time.Hour))
	e.checkTimeouts(e.nanotime() + 2*int64(time.Hour))
	if n := calls.Load(); n != 1 {
		t.Fatalf("onTimeout called %d times, want 1", n)
	}
	if n := e.Stats().MediaTimeouts; n != 1 {
		t.Fatalf("MediaTimeouts = %d, want 1", n)
	}
}

// On hold both sides send a=inactive and only RTCP flows: that keeps the
// call alive; silence on both legs then times it out. The watcher goroutine
// runs too, but on the same fake clock it sees the same state.
func TestMediaTimeoutRule(t *testing.T) {
	clock := newFakeClock()
	const timeout = 30 * time.Second
	e := testEngine(t, func(c *Config) { c.MediaTimeout = timeout }, clock.now)
	a, b := newPhone(t), newPhone(t)
	var calls atomic.Int32
	s, err := e.NewSession("hold", func() { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	// An offer alone does not arm the timeout: the call is still ringing.
	if _, err := s.Offer(0, a.sdp("inactive")); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * timeout)
	e.checkTimeouts(clock.now())
	if calls.Load() != 0 {
		t.Fatal("timed out before the answer")
	}
	if _, err := s.Answer(1, b.sdp("inactive")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clock.advance(timeout - time.Second)
		send(t, b.rtcp, earshotRTCP(s, 1), []byte{0x80, rtcpRR, 0, 1, 0, 0, 0, 0xB1})
		recv(t, a.rtcp)
		e.checkTimeouts(clock.now())
		if calls.Load() != 0 {
			t.Fatal("timed out while RTCP flows")
		}
	}
	clock.advance(timeout)
	e.checkTimeouts(clock.now())
	if calls.Load() != 1 {
		t.Fatalf("onTimeout called %d times after %v of silence, want 1", calls.Load(), timeout)
	}
}

func TestPortExhaustionAndQuarantine(t *testing.T) {
	clock := newFakeClock()
	const rest = 5 * time.Second
	var base int
	e := testEngine(t, func(c *Config) {
		c.PortMax = c.PortMin + 3 // exactly one session's worth
		c.PortQuarantine = rest
		base = c.PortMin
	}, clock.now)

	s1, err := e.NewSession("one", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().PortsInUse; got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
	_, err = e.NewSession("two", nil)
	var se interface{ SIPStatus() int }
	if !errors.Is(err, ErrNoPorts) || !errors.As(err, &se) || se.SIPStatus() != 503 {
		t.Fatalf("exhausted range gave %v, want ErrNoPorts with status 503", err)
	}
	ports := []uint16{s1.pair.Load()[0].port, s1.pair.Load()[1].port}
	if ports[0] != uint16(base) || ports[1] != uint16(base+2) {
		t.Fatalf("ports %v, want %d and %d", ports, base, base+2)
	}
	s1.Close()
	if got := e.Stats().PortsInUse; got != 0 {
		t.Fatalf("PortsInUse after close = %d, want 0", got)
	}
	if _, err := e.NewSession("too-early", nil); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("ports reused during quarantine: err = %v", err)
	}
	clock.advance(rest)
	s3, err := e.NewSession("after-rest", nil)
	if err != nil {
		t.Fatalf("ports not reused after quarantine: %v", err)
	}
	if got := []uint16{s3.pair.Load()[0].port, s3.pair.Load()[1].port}; got[0] != ports[0] || got[1] != ports[1] {
		t.Fatalf("reused ports %v, want %v", got, ports)
	}
}

func TestBusyPortSkipped(t *testing.T) {
	// Another program holds the RTCP port of the first pair of the range.
	var busy *net.UDPConn
	base := 0
	for try := 0; busy == nil; try++ {
		if try == 50 {
			t.Fatal("found no free port to occupy")
		}
		base = 20000 + 2*rand.IntN(5000)
		busy, _ = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(base+1))))
	}
	defer busy.Close()
	e := testEngine(t, func(c *Config) { c.PortMin, c.PortMax = base, base+5 }, nil)
	s, err := e.NewSession("busy", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := []uint16{s.pair.Load()[0].port, s.pair.Load()[1].port}; got[0] != uint16(base+2) || got[1] != uint16(base+4) {
		t.Fatalf("ports %v, want %d and %d (pair %d skipped)", got, base+2, base+4, base)
	}
	if got := e.Stats().PortsInUse; got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
}

// engineGoroutines lists the stacks of goroutines the engine started.
func engineGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		// Match on the creator: a goroutine that has not run yet does not
		// show its function as a frame.
		if strings.Contains(g, "created by github.com/earshot/earshot/rtpengine.") {
			found = append(found, g)
		}
	}
	return found
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	// Earlier tests' Close calls have returned, but a reader goroutine of
	// theirs may not have been scheduled to exit yet: give them a moment
	// before counting, so this test measures only its own engine.
	deadline := time.Now().Add(2 * time.Second)
	for len(engineGoroutines()) != 0 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if g := engineGoroutines(); len(g) != 0 {
		t.Fatalf("engine goroutines before the test:\n%s", strings.Join(g, "\n\n"))
	}
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 1, 1, []byte("x")))
	recv(t, b.rtp)
	for range 3 {
		if _, err := e.NewSession("idle", nil); err != nil {
			t.Fatal(err)
		}
	}
	if g, want := engineGoroutines(), engineGoroutinesFor(e, 4*2); len(g) != want {
		t.Fatalf("%d engine goroutines, want %d", len(g), want)
	}
	// Session.Close is idempotent and waits; Engine.Close closes the rest.
	s.Close()
	s.Close()
	if _, err := s.Offer(0, a.sdp("")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Offer after Close: %v", err)
	}
	e.Close()
	e.Close()
	// Close waited for every reader's WaitGroup signal; a reader that has
	// signalled may still be a few instructions from exiting (its stack
	// then shows the return), so allow it to be scheduled once or twice.
	for end := time.Now().Add(time.Second); len(engineGoroutines()) != 0 && time.Now().Before(end); {
		runtime.Gosched()
	}
	if g := engineGoroutines(); len(g) != 0 {
		t.Fatalf("goroutines left after Close:\n%s", strings.Join(g, "\n\n"))
	}
	if st := e.Stats(); st.SessionsActive != 0 || st.PortsInUse != 0 || st.RTPPackets != 1 {
		t.Fatalf("stats after close %+v", st)
	}
	if _, err := e.NewSession("late", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewSession after Close: %v", err)
	}
}

func TestSessionAPIErrors(t *testing.T) {
	e := testEngine(t, nil, nil)
	s, err := e.NewSession("errors", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Offer(2, nil); !errors.Is(err, ErrBadLeg) {
		t.Errorf("leg 2: %v", err)
	}
	if _, err := s.Answer(1, newPhone(t).sdp("")); !errors.Is(err, ErrNoOffer) {
		t.Errorf("answer without offer: %v", err)
	}
	if _, err := s.Offer(0, []byte("garbage")); !errors.Is(err, ErrUnparseableSDP) {
		t.Errorf("garbage offer: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "BindAddr") {
		t.Errorf("missing BindAddr: %v", err)
	}
	if _, err := New(Config{BindAddr: loopback, PortMin: 30000, PortMax: 30002}); err == nil || !strings.Contains(err.Error(), "PortMin/PortMax") {
		t.Errorf("one-pair range: %v", err)
	}
	if _, err := New(Config{BindAddr: netip.IPv4Unspecified()}); err == nil || !strings.Contains(err.Error(), "AdvertisedAddr") {
		t.Errorf("wildcard bind without advertised address: %v", err)
	}
	if _, err := New(Config{BindAddr: loopback, AdvertisedAddr: netip.IPv6Loopback()}); err == nil || !strings.Contains(err.Error(), "family") {
		t.Errorf("mixed families: %v", err)
	}
	if _, err := New(Config{BindAddr: loopback, MediaTimeout: -1, PortQuarantine: -1, ReceiveLoops: -1}); err == nil ||
		!strings.Contains(err.Error(), "MediaTimeout") || !strings.Contains(err.Error(), "PortQuarantine") ||
		!strings.Contains(err.Error(), "ReceiveLoops") {
		t.Errorf("every problem must be reported: %v", err)
	}
	tiny, err := New(Config{BindAddr: loopback, MediaTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	tiny.Close()
	e, err := New(Config{BindAddr: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.cfg.PortMin != DefaultPortMin || e.cfg.MediaTimeout != DefaultMediaTimeout || e.cfg.AdvertisedAddr != loopback ||
		e.cfg.ReceiveLoops != max(1, baseProcs()-1) {
		t.Errorf("defaults not applied: %+v", e.cfg)
	}
}
