//go:build !386

package rtpengine

import (
	"runtime"
	"testing"
	"time"
)

// Dedicated receive loops: GOMAXPROCS is one higher per loop while the
// engine runs and back when it closes; the runtime can still stop the
// world while the loops sleep in their raw wait (a collection and a
// GOMAXPROCS change finish); and the media path is the same: a call
// relayed, mixed and relayed again with continuous streams.
func TestDedicatedReceiveLoops(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	dedicated := func(c *Config) { c.DedicatedReceive, c.ReceiveLoops = true, 2 }
	e := testEngine(t, dedicated, nil)
	if !e.recv.dedicated() {
		t.Fatal("the loops are not dedicated")
	}
	if got := runtime.GOMAXPROCS(0); got != base+2 {
		t.Fatalf("GOMAXPROCS %d with two dedicated loops, want %d", got, base+2)
	}
	if got := baseProcs(); got != base {
		t.Fatalf("baseProcs %d, want %d", got, base)
	}
	// Idle loops are asleep in epoll_pwait, which the runtime does not
	// see: a stop-the-world must interrupt them by signal.
	done := make(chan struct{})
	go func() {
		runtime.GC()
		runtime.GC()
		addProcs(1)
		addProcs(-1)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the runtime could not stop the world while the dedicated loops waited")
	}
	testSwitchContinuity(t, dedicated)
	e.Close()
	if got := runtime.GOMAXPROCS(0); got != base+2 {
		// testSwitchContinuity's engine is closed at the end of the test.
		t.Fatalf("GOMAXPROCS %d after one of two engines closed, want %d", got, base+2)
	}
}

// Under GODEBUG=asyncpreemptoff=1 nothing would interrupt a dedicated
// loop's wait: the loops are shared instead.
func TestDedicatedReceiveNeedsAsyncPreemption(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	t.Setenv("GODEBUG", "madvdontneed=1, asyncpreemptoff=1")
	e := testEngine(t, func(c *Config) { c.DedicatedReceive = true }, nil)
	if e.recv.dedicated() || runtime.GOMAXPROCS(0) != base {
		t.Fatalf("dedicated %v, GOMAXPROCS %d (was %d)", e.recv.dedicated(), runtime.GOMAXPROCS(0), base)
	}
	t.Setenv("GODEBUG", "asyncpreemptoff=0")
	if asyncPreemptOff() {
		t.Fatal("asyncpreemptoff=0 read as off")
	}
}
