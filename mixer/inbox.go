package mixer

import (
	"sync"
	"sync/atomic"
	"time"
)

// inboxSize is how many packets a leg can queue between two ticks. A tick
// drains the inbox every 20 ms, so 32 packets absorb a burst of 640 ms of
// audio or a worker stalled for hundreds of milliseconds.
const (
	inboxSize = 32
	inboxMask = inboxSize - 1
)

// inboxEntry is one packet waiting for the worker.
type inboxEntry struct {
	arrival time.Time
	ts      uint32
	ssrc    uint32
	seq     uint16
	marker  bool
	n       uint8
	payload [FrameSamples]byte
}

// inbox hands packets from socket reader goroutines to the mixer worker
// without ever blocking either side on the other: a ring with an atomic
// head (advanced only by the worker) and tail (advanced only by producers).
// The worker then feeds the leg's jitter buffer itself, so the buffer has a
// single owner and needs no lock. When the ring is full the newest packet is
// dropped and counted.
type inbox struct {
	// mu serialises producers, in case two goroutines push to one leg
	// (there should be one reader per socket). The worker never takes it.
	mu      sync.Mutex
	head    atomic.Uint64 // next entry to drain; written by the worker
	tail    atomic.Uint64 // next entry to fill; written under mu
	dropped atomic.Uint64
	total   *atomic.Uint64 // the drops of every leg of the shard (or session)
	ring    [inboxSize]inboxEntry
}

// push queues a packet; false means the inbox was full and it was dropped.
func (q *inbox) push(payload []byte, seq uint16, ts, ssrc uint32, marker bool, arrival time.Time) bool {
	q.mu.Lock()
	t := q.tail.Load()
	if t-q.head.Load() >= inboxSize {
		q.mu.Unlock()
		q.dropped.Add(1)
		if q.total != nil {
			q.total.Add(1)
		}
		return false
	}
	e := &q.ring[t&inboxMask]
	e.arrival = arrival
	e.seq, e.ts, e.ssrc, e.marker = seq, ts, ssrc, marker
	e.n = uint8(copy(e.payload[:], payload))
	// The store publishes the entry: the worker reads it only after
	// loading a tail past it.
	q.tail.Store(t + 1)
	q.mu.Unlock()
	return true
}

// drain moves every queued packet into jb. Worker only.
func (q *inbox) drain(jb *JitterBuffer) {
	h, t := q.head.Load(), q.tail.Load()
	for ; h != t; h++ {
		e := &q.ring[h&inboxMask]
		jb.Push(e.payload[:e.n], e.seq, e.ts, e.ssrc, e.marker, e.arrival)
	}
	// Releasing the entries only now keeps producers off them while
	// they are read.
	q.head.Store(h)
}
