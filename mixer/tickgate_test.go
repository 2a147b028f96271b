package mixer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waiters starts n goroutines in g.wait and returns how many have
// returned so far and a channel closed when all have.
func waiters(g *tickGate, n int) (*atomic.Int64, chan struct{}) {
	var back atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.wait()
			back.Add(1)
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	return &back, all
}

func within(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still waiting after 5 s", what)
	}
}

// noneBack fails the test if any of the waiters counted in back has
// returned 50 ms on.
func noneBack(t *testing.T, back *atomic.Int64, when string) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	if n := back.Load(); n != 0 {
		t.Fatalf("%d waiters returned %s", n, when)
	}
}

// TestTickGate: a waiter returns at once between ticks, and otherwise at
// the end of the tick it found in progress, not before and not only at
// a later one; the worker's side never waits.
func TestTickGate(t *testing.T) {
	var g tickGate
	_, all := waiters(&g, 10)
	within(t, all, "no tick in progress")

	g.begin()
	back, all := waiters(&g, 100)
	noneBack(t, back, "while the tick was in progress")
	g.end()
	within(t, all, "the tick's end")

	// A waiter of one tick is released by that tick's end even when
	// the next tick has begun by the time it runs; one that comes
	// during the next tick waits for it. The first waiter has seen the
	// tick once it has made the tick's channel.
	g.begin()
	_, firstAll := waiters(&g, 1)
	for g.done.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	g.end()
	g.begin()
	within(t, firstAll, "the end of the tick it found")
	second, secondAll := waiters(&g, 50)
	noneBack(t, second, "during the next tick")
	g.end()
	within(t, secondAll, "the next tick's end")
}

// TestPooledCloseWaitsForAfterTick: Close of a pooled session returns
// only once the tick in progress and the AfterTick after it are over (a
// batching Sink sends there what the tick wrote), and many closers at
// once hold up neither each other nor the worker's next tick.
func TestPooledCloseWaitsForAfterTick(t *testing.T) {
	inAfter := make(chan struct{}, 1)
	release := make(chan struct{})
	var hold atomic.Bool
	p := NewPool(PoolConfig{Workers: 1, AfterTick: func(int) {
		if hold.CompareAndSwap(true, false) {
			inAfter <- struct{}{}
			<-release
		}
	}})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // before p.Close: a failing test must not leave the worker held
	const n = 200
	sessions := make([]*Session, n)
	for i := range sessions {
		s, err := p.NewSession(SessionConfig{Sink: newCountSink()})
		if err != nil {
			t.Fatal(err)
		}
		addThreeLegs(t, s)
		sessions[i] = s
	}
	// One session stays, so that the worker has something to tick
	// after the others are gone (an empty shard is not ticked).
	stays, err := p.NewSession(SessionConfig{Sink: newCountSink()})
	if err != nil {
		t.Fatal(err)
	}
	addThreeLegs(t, stays)
	hold.Store(true)
	<-inAfter
	var back atomic.Int64
	all := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
			back.Add(1)
		}()
	}
	go func() { wg.Wait(); close(all) }()
	noneBack(t, &back, "during the AfterTick")
	ticks := p.Stats().Ticks
	free()
	within(t, all, "Close after the AfterTick")
	// The worker ticks on: nothing of the closers holds it.
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Ticks < ticks+1 {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not tick again after the closers")
		}
		time.Sleep(time.Millisecond)
	}
}
