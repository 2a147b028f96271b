package mixer

import (
	"sync/atomic"
	"time"
)

// maxBuckets bounds the size of a histogram so that it can be a fixed array
// of atomic counters, observed without locks or allocation.
const maxBuckets = 16

// histogram counts durations into fixed buckets with atomics: one goroutine
// (a worker) observes, any goroutine may snapshot. Its bucket bounds are set
// once at construction and never change.
type histogram struct {
	bounds [maxBuckets - 1]time.Duration // inclusive upper bounds, ascending
	nb     int                           // number of bounds in use
	counts [maxBuckets]atomic.Uint64     // counts[nb] is the +Inf bucket
	sum    atomic.Int64                  // nanoseconds
}

// init sets the bucket bounds; at most maxBuckets-1 of them are used.
func (h *histogram) init(bounds ...time.Duration) {
	h.nb = copy(h.bounds[:], bounds)
}

// observe records one value.
func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < h.nb && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Histogram is a snapshot of a distribution of durations, laid out for a
// Prometheus histogram: Bounds are the inclusive upper bounds of all buckets
// but the last, which has no bound (+Inf); Counts are per bucket, NOT
// cumulative (a collector adds them up); Count and Sum are over all values.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// addTo adds the current values of h into s, creating s's slices if needed,
// so that several shards' histograms of one kind sum into one snapshot.
func (h *histogram) addTo(s *Histogram) {
	if s.Counts == nil {
		s.Bounds = append([]time.Duration(nil), h.bounds[:h.nb]...)
		s.Counts = make([]uint64, h.nb+1)
	}
	for i := range s.Counts {
		c := h.counts[i].Load()
		s.Counts[i] += c
		s.Count += c
	}
	s.Sum += time.Duration(h.sum.Load())
}

// Bucket layouts. Tick lateness is about scheduling (microseconds to a
// frame or more); jitter-buffer delay is in whole frames.
func latenessBounds() []time.Duration {
	return []time.Duration{
		50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond,
		500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
		5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
		50 * time.Millisecond, 100 * time.Millisecond,
	}
}

func delayBounds() []time.Duration {
	ms := time.Millisecond
	return []time.Duration{0, 20 * ms, 40 * ms, 60 * ms, 80 * ms, 100 * ms, 150 * ms, 200 * ms, 300 * ms, 500 * ms}
}
