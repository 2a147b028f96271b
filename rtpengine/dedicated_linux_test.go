//go:build !386

package rtpengine

import (
	"runtime"
	"runtime/metrics"
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
	// Each collection stops the world twice, scans the loops' stacks and
	// flushes every P: a handful of interrupted waits per loop. A loop
	// that answered the signal by rescheduling itself would clear each
	// request and be signalled again and again (hundreds per collection).
	intr := e.recv.interrupts()
	const collections = 20
	for range collections {
		runtime.GC()
	}
	per := float64(e.recv.interrupts()-intr) / collections / float64(len(e.recv.loops))
	t.Logf("%.1f interrupted waits per loop per collection", per)
	if per > 12 {
		t.Fatalf("%.1f interrupted waits per loop per collection, want ≤ 12", per)
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

// BenchmarkStopTheWorld is what dedicated loops cost the garbage
// collector: each op is one whole collection (ns/op its wall time) while
// the engine's loops sleep in their wait, and the runtime's own histogram
// of the time from a stop being asked for until every P has stopped gives
// the p50-µs and max-µs metrics (bucket upper bounds). A shared loop's P
// is free while it waits; a dedicated loop's thread must be woken by
// signal first (interrupts/op: the waits a signal ended per collection).
func BenchmarkStopTheWorld(b *testing.B) {
	for _, ded := range []bool{false, true} {
		name := map[bool]string{false: "shared", true: "dedicated"}[ded]
		b.Run(name, func(b *testing.B) {
			e := testEngine(b, func(c *Config) { c.DedicatedReceive = ded }, nil)
			intr := e.recv.interrupts()
			sample := []metrics.Sample{{Name: "/sched/pauses/stopping/gc:seconds"}}
			metrics.Read(sample)
			before := append([]uint64(nil), sample[0].Value.Float64Histogram().Counts...)
			for b.Loop() {
				runtime.GC()
			}
			metrics.Read(sample)
			h := sample[0].Value.Float64Histogram()
			var n, seen uint64
			for i := range h.Counts {
				n += h.Counts[i] - before[i]
			}
			var p50 float64
			for i := range h.Counts {
				d := h.Counts[i] - before[i]
				if d == 0 {
					continue
				}
				if seen < (n+1)/2 && seen+d >= (n+1)/2 {
					p50 = h.Buckets[i+1]
				}
				seen += d
				b.ReportMetric(h.Buckets[i+1]*1e6, "max-µs")
			}
			b.ReportMetric(p50*1e6, "p50-µs")
			b.ReportMetric(float64(e.recv.interrupts()-intr)/float64(b.N), "interrupts/op")
		})
	}
}
