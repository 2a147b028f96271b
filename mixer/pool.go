package mixer

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// PoolConfig configures a Pool. The zero value means the defaults.
type PoolConfig struct {
	// Workers is the number of worker goroutines, each ticking its own
	// shard of sessions. Default runtime.NumCPU().
	Workers int
	// MaxCatchUp is how far a worker may fall behind its clock and still
	// catch up by ticking back to back; further behind, it gives up the
	// missed ticks (counted in Stats.SkippedTicks) rather than send a
	// burst of stale audio. Default 100 ms.
	MaxCatchUp time.Duration
	// AfterTick, if set, is called on worker i's goroutine after each
	// tick of its shard, with i: a Sink that queues its frames (to send
	// a tick's frames in one system call) sends them here. The tick's
	// output lateness includes it, and RemoveLeg and Close wait for it
	// as for the tick. It must not block.
	AfterTick func(worker int)
}

// Pool is a fixed set of workers that tick mixer sessions every 20 ms on an
// absolute clock: tick n of a worker is due at start + n×20 ms, so lateness
// never accumulates into drift. Each session belongs to one worker's shard
// for its whole life; a tick of a shard ticks each of its sessions in turn.
// There is no goroutine or timer per call.
type Pool struct {
	shards     []*shard
	maxCatchUp time.Duration
	// sleep waits for a tick's deadline: sleepUntil, or timerSleep where
	// tests run the pool on synctest's fake clock.
	sleep     func(deadline time.Time)
	enc       *encoder // shared, read-only
	afterTick func(worker int)

	// mu guards the lifecycle; it is never held while ticking, nor by
	// NewSession, which reads closed alone.
	mu      sync.Mutex
	started bool
	closed  atomic.Bool // written under mu
	stop    chan struct{}
	wg      sync.WaitGroup
}

// shard is the sessions one worker ticks and the totals it keeps.
//
// Its list of sessions is the worker's own. NewSession and Close push the
// session's entry or exit on changes, a stack pushed without a lock, and
// the worker takes the stack whole before each tick (apply): a change costs
// O(1) and nobody waits. The list was copied on write under a lock, O(n)
// per session added or closed: past the machine's rate, with thousands of
// sessions per worker, a copy of thousands of pointers (and as much
// garbage) per call, and 730 goroutines queued on the lock in the dumps.
type shard struct {
	idx      int // the worker's index
	changes  atomic.Pointer[shardChange]
	list     []*Session // the worker's; Session.slot is each one's index
	counters counters
	// gate marks each tick and the AfterTick that follows it, for
	// Session.waitTick to wait out both.
	gate tickGate
	// wake (capacity 1) tells a worker with no sessions that add gave
	// it one.
	wake chan struct{}
}

// NewPool returns a pool; Start starts its workers.
func NewPool(cfg PoolConfig) *Pool {
	n := cfg.Workers
	if n <= 0 {
		n = runtime.NumCPU()
	}
	p := &Pool{maxCatchUp: cfg.MaxCatchUp, stop: make(chan struct{}), enc: newEncoder(), sleep: sleepUntil, afterTick: cfg.AfterTick}
	if p.maxCatchUp <= 0 {
		p.maxCatchUp = 100 * time.Millisecond
	}
	for i := range n {
		sh := &shard{idx: i, wake: make(chan struct{}, 1)}
		sh.counters.init()
		p.shards = append(p.shards, sh)
	}
	return p
}

// Start starts the workers. Their clocks start now. Starting twice, or after
// Close, returns ErrClosed for a closed pool and nil otherwise.
func (p *Pool) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.started {
		return nil
	}
	p.started = true
	// The workers' clocks are spread over the frame (worker i of n
	// ticks i/n of a frame after worker 0): in phase, they would all
	// wake at the same instant and compete for the cores with each
	// other and with the receive loops, then leave the cores idle.
	start := time.Now()
	for i, sh := range p.shards {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.run(sh, start.Add(time.Duration(i)*FrameDuration/time.Duration(len(p.shards))))
		}()
	}
	return nil
}

// Close stops the workers and waits for them to return. Sessions stay
// usable as values but are no longer ticked. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if !p.closed.Load() {
		p.closed.Store(true)
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// NewSession creates a session clocked by the pool, in the shard with the
// fewest sessions (as counted when it looks: two sessions made at once may
// both go to the same one). A session made as the pool closes may be
// taken by no worker, like every session once it has: it is not ticked.
func (p *Pool) NewSession(cfg SessionConfig) (*Session, error) {
	s, err := newSession(cfg, p.enc, nil)
	if err != nil {
		return nil, err
	}
	if p.closed.Load() {
		return nil, ErrClosed
	}
	best := p.shards[0]
	for _, sh := range p.shards[1:] {
		if sh.counters.sessions.Load() < best.counters.sessions.Load() {
			best = sh
		}
	}
	s.shard = best
	s.enter = shardChange{s: s, enter: true}
	s.exit = shardChange{s: s}
	best.counters.sessions.Add(1)
	best.push(&s.enter)
	select {
	case best.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	return s, nil
}

// Workers returns the number of workers: AfterTick's argument is below it.
func (p *Pool) Workers() int { return len(p.shards) }

// Stats returns a snapshot of the pool's totals and gauges.
func (p *Pool) Stats() Stats {
	st := Stats{Workers: len(p.shards)}
	for _, sh := range p.shards {
		sh.counters.addTo(&st)
	}
	return st
}

// run is one worker: it ticks sh at start + n×20 ms until the pool stops.
// It sleeps with sleepUntil, whose wake-up is precise to tens of
// microseconds where a Go timer's is not; Close takes effect at the next
// tick. A worker whose shard is empty does not tick: it waits for a
// session (idle), then resumes at its next deadline on the same grid.
func (p *Pool) run(sh *shard, start time.Time) {
	for n := int64(1); ; n++ {
		deadline := start.Add(time.Duration(n) * FrameDuration)
		p.sleep(deadline)
		select {
		case <-p.stop:
			return
		default:
		}
		if sh.apply(); len(sh.list) == 0 {
			if !p.idle(sh) {
				return
			}
			n = int64(time.Since(start) / FrameDuration) // the next is the first deadline ahead
			continue
		}
		now := time.Now()
		late := now.Sub(deadline)
		sh.counters.lateness.observe(late)
		if late > p.maxCatchUp {
			// Too far behind: skip to the most recent deadline
			// rather than replay every missed tick.
			skip := int64(late / FrameDuration)
			n += skip
			sh.counters.skippedTicks.Add(uint64(skip))
		}
		sh.gate.begin()
		sh.tick(now)
		if p.afterTick != nil {
			p.afterTick(sh.idx)
		}
		sh.gate.end()
		sh.counters.output.observe(time.Since(deadline))
	}
}

// idle waits until sh has a session (true) or the pool stops (false).
// Ticking an empty shard costs a worker two wake-ups a frame for
// nothing, and its precise sleep is a system call during which the Go
// runtime's monitor thread takes the worker's P when no P is idle (as
// with dedicated receive loops); each time it does, the monitor polls
// every 20 µs for a millisecond or more. Relaying 100 calls with two
// idle workers, that was 700 monitor wake-ups a second and about a
// seventh of earshot's CPU (docs/performance.md).
func (p *Pool) idle(sh *shard) bool {
	for {
		if sh.apply(); len(sh.list) > 0 {
			return true
		}
		select {
		case <-p.stop:
			return false
		case <-sh.wake:
		}
	}
}

// timerSleep waits for deadline on a Go timer, which may wake up to a
// millisecond late (see clock_linux.go).
func timerSleep(deadline time.Time) {
	if wait := time.Until(deadline); wait > 0 {
		time.Sleep(wait)
	}
}

// tick ticks every session of the shard once. It is the whole of a
// worker's per-frame work, and a plain function so tests can drive it with
// any time they like.
func (sh *shard) tick(now time.Time) {
	sh.counters.ticks.Add(1)
	sh.apply()
	for _, s := range sh.list {
		s.tick(now, &sh.counters)
	}
}

// shardChange is a session's entry into its shard or its exit. A session
// holds its two (each happens once), so a change allocates nothing.
type shardChange struct {
	s     *Session
	next  *shardChange
	enter bool
}

// push adds c to the changes the worker has yet to apply.
func (sh *shard) push(c *shardChange) {
	for {
		top := sh.changes.Load()
		c.next = top
		if sh.changes.CompareAndSwap(top, c) {
			return
		}
	}
}

// apply takes the changes pushed since the last apply and makes them in
// the worker's list, in the order they were pushed: a session's entry
// comes before its exit. A session leaves by taking the last one's place.
// A session that has exited may have been ticked after its Close: its
// table is nil then, so its tick does nothing.
func (sh *shard) apply() {
	if sh.changes.Load() == nil {
		return
	}
	var first *shardChange
	for c := sh.changes.Swap(nil); c != nil; {
		next := c.next
		c.next, first = first, c
		c = next
	}
	for c := first; c != nil; {
		next := c.next
		c.next = nil // a change keeps no other session alive
		if s := c.s; c.enter {
			s.slot = len(sh.list)
			sh.list = append(sh.list, s)
		} else {
			last := len(sh.list) - 1
			moved := sh.list[last]
			sh.list[s.slot], moved.slot = moved, s.slot
			sh.list[last] = nil
			sh.list = sh.list[:last]
		}
		c = next
	}
}
