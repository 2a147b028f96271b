package mixer

import "sync/atomic"

// tickGate lets those who close a pooled session wait until the worker's
// tick in progress, and the AfterTick after it, are over
// (Session.waitTick), without the worker ever waiting for them.
//
// It was a mutex the worker held for each tick, which a closing session
// took and let go. Past the machine's rate calls end by the thousand, and
// the closers queued on it (712 to 1,312 goroutines in dumps of a ladder
// at 3,200 calls/s); the starved mutex passed itself from closer to
// closer, each first waiting for a CPU, and the worker's next tick waited
// behind them all: a late tick for every call on the worker. Now the
// worker only counts its ticks in and out and closes the channel a
// waiter made, if one did; waiters wake together.
type tickGate struct {
	phase atomic.Uint64                 // odd while a tick is in progress
	done  atomic.Pointer[chan struct{}] // made by a waiter; closed by the next end
}

// begin marks a tick in progress.
func (g *tickGate) begin() { g.phase.Add(1) }

// end marks the tick over and releases its waiters.
func (g *tickGate) end() {
	g.phase.Add(1)
	if ch := g.done.Swap(nil); ch != nil {
		close(*ch)
	}
}

// wait returns once the tick in progress when it was called, if any, is
// over. A channel is closed by the first end after it was stored, so one
// stored before this waiter saw the tick is closed at that tick's end or
// earlier (then the phase has moved on, which wait checks after taking
// the channel).
func (g *tickGate) wait() {
	p := g.phase.Load()
	if p%2 == 0 {
		return
	}
	ch := g.done.Load()
	if ch == nil {
		c := make(chan struct{})
		if g.done.CompareAndSwap(nil, &c) {
			ch = &c
		} else if ch = g.done.Load(); ch == nil {
			return // swapped out since: an end came, so the tick is over
		}
	}
	if g.phase.Load() != p {
		return
	}
	<-*ch
}
