package mixer

import (
	"sync/atomic"
	"time"
)

// counters are the totals of one shard (or one standalone session). The
// ticking goroutine is their only writer, so updates are uncontended
// atomic adds; readers take a Stats snapshot at scrape time.
type counters struct {
	ticks        atomic.Uint64
	skippedTicks atomic.Uint64
	framesOut    atomic.Uint64
	lateness     histogram
	output       histogram // when a tick's last frame had been written
	delay        histogram

	played, concealed, inserted, silence atomic.Uint64
	late, duplicate, reordered, dropped  atomic.Uint64
	ssrcChanges, resyncs                 atomic.Uint64
	// inboxDropped counts the inbox drops of every leg, counted as they
	// happen (inbox.push): a pool's Stats cannot walk the legs, whose
	// list is its workers' own. Drops happen only past what a worker
	// keeps up with, so the shared add is rare.
	inboxDropped atomic.Uint64
	// sessions and legs are gauges: the pooled sessions in a shard, and
	// the legs of its sessions (or of a standalone session).
	sessions, legs atomic.Int64
}

func newCounters() *counters {
	c := &counters{}
	c.init()
	return c
}

// init sets the histograms' bucket layouts.
func (c *counters) init() {
	c.lateness.init(latenessBounds()...)
	c.output.init(latenessBounds()...)
	c.delay.init(delayBounds()...)
}

// addJitter adds what changed in a jitter buffer's stats during a tick.
// Most fields do not change in a given tick, so most adds are skipped.
func (c *counters) addJitter(before, after *JitterStats) {
	add := func(a *atomic.Uint64, b, n uint64) {
		if n != b {
			a.Add(n - b)
		}
	}
	add(&c.played, before.Played, after.Played)
	add(&c.concealed, before.Concealed, after.Concealed)
	add(&c.inserted, before.Inserted, after.Inserted)
	add(&c.silence, before.Silence, after.Silence)
	add(&c.late, before.Late, after.Late)
	add(&c.duplicate, before.Duplicate, after.Duplicate)
	add(&c.reordered, before.Reordered, after.Reordered)
	add(&c.dropped, before.DroppedOverflow, after.DroppedOverflow)
	add(&c.ssrcChanges, before.SSRCChanges, after.SSRCChanges)
	add(&c.resyncs, before.Resyncs, after.Resyncs)
}

// Stats is a point-in-time snapshot of a Pool for metrics. Counters only
// grow; Sessions and Legs are current values.
type Stats struct {
	Workers  int
	Sessions int
	Legs     int

	// Ticks counts shard ticks; SkippedTicks those given up after a
	// worker fell more than MaxCatchUp behind.
	Ticks        uint64
	SkippedTicks uint64
	// TickLateness is how long after its deadline each tick started.
	TickLateness Histogram
	// OutputLateness is how long after its deadline each tick had handed
	// its last frame to the Sinks: the tick's lateness plus the time to
	// mix and write every frame of the shard. The last frame of a tick
	// leaves this late; the first ones leave earlier.
	OutputLateness Histogram
	// FramesOut counts frames handed to Sinks.
	FramesOut uint64
	// InboxDropped counts packets Push dropped because a leg's inbox was
	// full (the worker did not keep up).
	InboxDropped uint64
	// Jitter sums the jitter buffers' counters over all legs, past and
	// present.
	Jitter JitterStats
	// JitterDelay is the playout delay (depth × 20 ms) of every leg's
	// buffer, observed once per tick.
	JitterDelay Histogram
}

// addTo adds c into s.
func (c *counters) addTo(s *Stats) {
	s.Ticks += c.ticks.Load()
	s.SkippedTicks += c.skippedTicks.Load()
	s.FramesOut += c.framesOut.Load()
	s.InboxDropped += c.inboxDropped.Load()
	s.Sessions += int(c.sessions.Load())
	s.Legs += int(c.legs.Load())
	c.lateness.addTo(&s.TickLateness)
	c.output.addTo(&s.OutputLateness)
	c.delay.addTo(&s.JitterDelay)
	j := &s.Jitter
	j.Played += c.played.Load()
	j.Concealed += c.concealed.Load()
	j.Inserted += c.inserted.Load()
	j.Silence += c.silence.Load()
	j.Late += c.late.Load()
	j.Duplicate += c.duplicate.Load()
	j.Reordered += c.reordered.Load()
	j.DroppedOverflow += c.dropped.Load()
	j.SSRCChanges += c.ssrcChanges.Load()
	j.Resyncs += c.resyncs.Load()
}

// frameDelay converts a depth in frames to a playout delay.
func frameDelay(depth int) time.Duration { return time.Duration(depth) * FrameDuration }
