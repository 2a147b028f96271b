package mixer

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// countSink counts frames per leg from worker goroutines and can stall the
// worker once, to simulate a slow tick.
type countSink struct {
	mu      sync.Mutex
	frames  map[LegID]int
	stallAt int           // frame count of leg 1 at which to stall
	stall   time.Duration // how long
}

func newCountSink() *countSink { return &countSink{frames: map[LegID]int{}} }

func (c *countSink) WriteFrame(leg LegID, payload []byte) {
	c.mu.Lock()
	c.frames[leg]++
	n := c.frames[leg]
	c.mu.Unlock()
	if leg == 1 && c.stall > 0 && n == c.stallAt {
		time.Sleep(c.stall) // fake time inside the bubble: the worker is late
	}
}

func (c *countSink) count(leg LegID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames[leg]
}

func addThreeLegs(t *testing.T, s *Session) {
	t.Helper()
	for _, cfg := range []LegConfig{
		{ID: 1, Role: RoleCustomer, Codec: CodecPCMU},
		{ID: 2, Role: RoleAgent, Codec: CodecPCMA},
		{ID: 3, Role: RoleSupervisor, Mode: ModeListen, Codec: CodecPCMU},
	} {
		if _, err := s.AddLeg(cfg); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPoolTicksEvery20ms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 2})
		sinks := []*countSink{newCountSink(), newCountSink(), newCountSink()}
		for _, sk := range sinks {
			s, err := p.NewSession(SessionConfig{Sink: sk})
			if err != nil {
				t.Fatal(err)
			}
			addThreeLegs(t, s)
			if err := s.Tick(time.Now()); !errors.Is(err, ErrPooled) {
				t.Errorf("Tick on a pooled session: %v, want ErrPooled", err)
			}
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + FrameDuration/2)
		synctest.Wait()
		for i, sk := range sinks {
			for leg := LegID(1); leg <= 3; leg++ {
				if got := sk.count(leg); got != 50 {
					t.Errorf("session %d leg %d: %d frames in 1 s, want 50", i, leg, got)
				}
			}
		}
		st := p.Stats()
		if st.Workers != 2 || st.Sessions != 3 || st.Legs != 9 {
			t.Errorf("stats workers %d sessions %d legs %d, want 2, 3, 9", st.Workers, st.Sessions, st.Legs)
		}
		if st.Ticks != 100 || st.FramesOut != 450 || st.TickLateness.Count != 100 {
			t.Errorf("ticks %d frames %d lateness count %d, want 100, 450, 100", st.Ticks, st.FramesOut, st.TickLateness.Count)
		}
		if st.TickLateness.Counts[0] != 100 || st.TickLateness.Sum != 0 {
			t.Errorf("lateness %+v: want every tick on time under the fake clock", st.TickLateness)
		}
		if st.JitterDelay.Count != 450 || st.Jitter.Silence != 450 {
			t.Errorf("jitter delay count %d silence %d, want 450 each (no input)", st.JitterDelay.Count, st.Jitter.Silence)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		// Closed: no more ticks, and the bubble would report a leaked
		// worker goroutine.
		time.Sleep(time.Second)
		if got := sinks[0].count(1); got != 50 {
			t.Errorf("frames after Close: %d, want still 50", got)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := p.NewSession(SessionConfig{Sink: newCountSink()}); !errors.Is(err, ErrClosed) {
			t.Errorf("NewSession after Close: %v, want ErrClosed", err)
		}
		if err := p.Start(); !errors.Is(err, ErrClosed) {
			t.Errorf("Start after Close: %v, want ErrClosed", err)
		}
	})
}

// TestPoolCatchesUpWithoutDrift stalls a worker for 50 ms once: it must record
// the lateness, tick back to back to catch up, and still have ticked exactly
// once per 20 ms of its absolute clock.
func TestPoolCatchesUpWithoutDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 1})
		sk := newCountSink()
		sk.stallAt, sk.stall = 10, 50*time.Millisecond
		s, _ := p.NewSession(SessionConfig{Sink: sk})
		addThreeLegs(t, s)
		p.Start()
		defer p.Close()
		time.Sleep(time.Second + FrameDuration/2)
		synctest.Wait()
		if got := sk.count(1); got != 50 {
			t.Errorf("%d frames in 1 s after a stall, want 50", got)
		}
		st := p.Stats()
		if st.SkippedTicks != 0 {
			t.Errorf("skipped %d ticks, want 0 (the stall is within MaxCatchUp)", st.SkippedTicks)
		}
		// The stall makes the next two deadlines late by 30 and 10 ms.
		if st.TickLateness.Sum != 40*time.Millisecond {
			t.Errorf("lateness sum %v, want 40ms", st.TickLateness.Sum)
		}
		if late := countAbove(st.TickLateness, 5*time.Millisecond); late != 2 {
			t.Errorf("%d ticks later than 5 ms, want 2: %+v", late, st.TickLateness)
		}
	})
}

// TestPoolSkipsAfterLongStall stalls a worker for longer than MaxCatchUp: it
// gives up the missed ticks instead of bursting them out.
func TestPoolSkipsAfterLongStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 1, MaxCatchUp: 60 * time.Millisecond})
		sk := newCountSink()
		sk.stallAt, sk.stall = 10, 210*time.Millisecond
		s, _ := p.NewSession(SessionConfig{Sink: sk})
		addThreeLegs(t, s)
		p.Start()
		defer p.Close()
		time.Sleep(time.Second + FrameDuration/2)
		synctest.Wait()
		st := p.Stats()
		// Tick 10 (due at 200 ms) returns at 410 ms: ticks 11..19 are
		// given up and tick 20 (due at 400 ms) runs 10 ms late.
		if st.SkippedTicks != 9 {
			t.Errorf("skipped %d ticks, want 9", st.SkippedTicks)
		}
		if got := uint64(sk.count(1)) + st.SkippedTicks; got != 50 {
			t.Errorf("frames %d + skipped %d = %d, want 50: the clock drifted", sk.count(1), st.SkippedTicks, got)
		}
	})
}

// TestPoolConcurrentControl changes legs and pushes packets from other
// goroutines while the workers tick; run with -race.
func TestPoolConcurrentControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 2})
		p.Start()
		defer p.Close()
		s, _ := p.NewSession(SessionConfig{Sink: newCountSink()})
		addThreeLegs(t, s)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // a socket reader
			defer wg.Done()
			tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
			for range 200 {
				pk := tk.next(0)
				s.Push(1, pk.payload, pk.seq, pk.ts, pk.ssrc, false, time.Now())
				time.Sleep(FrameDuration)
			}
		}()
		go func() { // the control plane
			defer wg.Done()
			modes := []Mode{ModeListen, ModeWhisper, ModeBarge, ModeIntercept}
			for i := range 100 {
				if err := s.SetMode(3, modes[i%len(modes)]); err != nil {
					t.Error(err)
				}
				if _, err := s.AddLeg(LegConfig{ID: 9, Role: RoleSupervisor, Mode: ModeBarge, Codec: CodecPCMA}); err != nil {
					t.Error(err)
				}
				time.Sleep(7 * time.Millisecond)
				if err := s.RemoveLeg(9); err != nil {
					t.Error(err)
				}
				time.Sleep(11 * time.Millisecond)
			}
		}()
		wg.Wait()
		st := p.Stats()
		if st.Jitter.Played < 150 {
			t.Errorf("played %d frames of the 200 pushed", st.Jitter.Played)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Sessions != 0 || st.Legs != 0 {
			t.Errorf("after session Close: %d sessions %d legs, want 0", st.Sessions, st.Legs)
		}
	})
}

// TestShardTickIsAPlainFunction drives a shard by hand with chosen times.
func TestShardTickIsAPlainFunction(t *testing.T) {
	p := NewPool(PoolConfig{Workers: 1})
	sk := newCaptureSink()
	s, _ := p.NewSession(SessionConfig{Sink: sk})
	addThreeLegs(t, s)
	tk := newTalker(CodecPCMU, toneCustomer, 5, 0, 0)
	for n := range 100 {
		now := epoch.Add(time.Duration(n) * FrameDuration)
		pk := tk.next(0)
		s.Push(1, pk.payload, pk.seq, pk.ts, pk.ssrc, false, now.Add(-time.Millisecond))
		p.shards[0].tick(now)
	}
	if l := level(sk.decoded(2, CodecPCMA), toneCustomer); l < heardDB {
		t.Errorf("agent hears the customer at %.1f dBFS", l)
	}
	if got := p.Stats().Ticks; got != 100 {
		t.Errorf("ticks %d, want 100", got)
	}
}

// countAbove counts the values of h in buckets whose lower bound is at least d.
func countAbove(h Histogram, d time.Duration) uint64 {
	var n uint64
	for i, c := range h.Counts {
		if i > 0 && h.Bounds[i-1] >= d {
			n += c
		}
	}
	return n
}

// TestPoolRemoveLegStopsFrames checks that once RemoveLeg and Close return,
// the Sink hears nothing more of the removed leg or the closed session.
func TestPoolRemoveLegStopsFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 1})
		p.Start()
		defer p.Close()
		sk := newCountSink()
		s, _ := p.NewSession(SessionConfig{Sink: sk})
		addThreeLegs(t, s)
		time.Sleep(205 * time.Millisecond)
		if err := s.RemoveLeg(3); err != nil {
			t.Fatal(err)
		}
		removedAt := sk.count(3)
		time.Sleep(200 * time.Millisecond)
		if got := sk.count(3); got != removedAt || got != 10 {
			t.Errorf("removed leg: %d frames at removal, %d later; want 10 and no more", removedAt, got)
		}
		if got := sk.count(1); got != 20 {
			t.Errorf("remaining leg: %d frames, want 20", got)
		}
		s.Close()
		closedAt := sk.count(1)
		time.Sleep(200 * time.Millisecond)
		if got := sk.count(1); got != closedAt {
			t.Errorf("closed session: %d frames at Close, %d later", closedAt, got)
		}
	})
}

// fakeClockPool is NewPool with its workers on Go timers, which synctest's
// fake clock drives (the thread clock sleeps in the kernel, where the fake
// clock does not reach).
func fakeClockPool(cfg PoolConfig) *Pool {
	p := NewPool(cfg)
	p.sleep = timerSleep
	return p
}

// TestSleepUntilNeverEarly checks the worker's clock against the runtime's:
// a tick must not start before its deadline, however short the wait.
func TestSleepUntilNeverEarly(t *testing.T) {
	for _, wait := range []time.Duration{-time.Millisecond, 0, time.Microsecond, 300 * time.Microsecond, 1500 * time.Microsecond, FrameDuration} {
		deadline := time.Now().Add(wait)
		sleepUntil(deadline)
		if now := time.Now(); now.Before(deadline) {
			t.Errorf("wait %v: woke %v before the deadline", wait, deadline.Sub(now))
		}
	}
}

// timeSink records when leg 1's frames are written.
type timeSink struct {
	mu sync.Mutex
	at []time.Time
}

func (k *timeSink) WriteFrame(leg LegID, _ []byte) {
	if leg == 1 {
		k.mu.Lock()
		k.at = append(k.at, time.Now())
		k.mu.Unlock()
	}
}

// TestPoolWorkersSpreadOverFrame checks that n workers tick i/n of a frame
// apart, not all at once: worker 0 at start + k×20 ms, worker 1 of 2 at
// start + 10 ms + k×20 ms.
func TestPoolWorkersSpreadOverFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 2})
		sinks := []*timeSink{{}, {}}
		for _, sk := range sinks { // one session per shard: the emptier shard takes the next
			s, err := p.NewSession(SessionConfig{Sink: sk})
			if err != nil {
				t.Fatal(err)
			}
			addThreeLegs(t, s)
		}
		start := time.Now()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5*FrameDuration + FrameDuration/4)
		synctest.Wait()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		for w, sk := range sinks {
			offset := time.Duration(w) * FrameDuration / 2
			var got []time.Duration
			for _, at := range sk.at {
				got = append(got, at.Sub(start))
			}
			want := []time.Duration{}
			for k := 1; time.Duration(k)*FrameDuration+offset <= 5*FrameDuration+FrameDuration/4; k++ {
				want = append(want, time.Duration(k)*FrameDuration+offset)
			}
			if !slices.Equal(got, want) {
				t.Errorf("worker %d ticked at %v, want %v", w, got, want)
			}
		}
	})
}

// TestPoolIdleWorkerSleeps checks that a worker with no sessions does not
// tick, that a session added later is ticked on the worker's own grid
// (start + k×20 ms, from the first deadline after it came), and that the
// worker goes back to sleep when its shard empties again.
func TestPoolIdleWorkerSleeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakeClockPool(PoolConfig{Workers: 2})
		start := time.Now()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := p.Stats(); st.Ticks != 0 || st.TickLateness.Count != 0 {
			t.Fatalf("idle for 1 s: %d ticks, %d lateness samples, want 0, 0", st.Ticks, st.TickLateness.Count)
		}
		time.Sleep(7 * time.Millisecond)
		sk := &timeSink{}
		s, err := p.NewSession(SessionConfig{Sink: sk})
		if err != nil {
			t.Fatal(err)
		}
		addThreeLegs(t, s)
		if s.Worker() != 0 {
			t.Fatalf("session on worker %d, want 0", s.Worker())
		}
		time.Sleep(5*FrameDuration + FrameDuration/4)
		synctest.Wait()
		var got []time.Duration
		sk.mu.Lock()
		for _, at := range sk.at {
			got = append(got, at.Sub(start))
		}
		sk.mu.Unlock()
		var want []time.Duration
		for k := 51; k <= 55; k++ {
			want = append(want, time.Duration(k)*FrameDuration)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ticked at %v, want %v", got, want)
		}
		if st := p.Stats(); st.Ticks != 5 || st.TickLateness.Count != 5 || st.TickLateness.Sum != 0 {
			t.Errorf("%d ticks, lateness %d samples summing %v, want 5, 5, 0", st.Ticks, st.TickLateness.Count, st.TickLateness.Sum)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := p.Stats(); st.Ticks != 5 {
			t.Errorf("%d ticks a second after the last session left, want still 5", st.Ticks)
		}
		// An idle worker answers Close at once (the bubble would report
		// a worker left waiting).
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
