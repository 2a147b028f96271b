package mixer

import (
	"testing"
	"time"
)

// The per-packet and per-frame paths must not allocate.

func TestAllocsJitterBufferPushPop(t *testing.T) {
	jb := NewJitterBuffer(CodecPCMA, JitterConfig{})
	pkts := newTalker(CodecPCMA, toneAgent, 1, 0, 0).stream(benchPackets, 0, FrameDuration)
	var out Frame
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		now := epoch.Add(time.Duration(n) * FrameDuration)
		p := &pkts[n&(benchPackets-1)]
		// Include the odd paths: a duplicate, a late one, an SSRC change.
		jb.Push(p.payload, uint16(n), uint32(n*FrameSamples), uint32(1+n/500), n%50 == 0, now)
		jb.Push(p.payload, uint16(n), uint32(n*FrameSamples), uint32(1+n/500), false, now)
		jb.Push(p.payload, uint16(n-30), 0, uint32(1+n/500), false, now)
		jb.Pop(now, &out)
		n++
	})
	if allocs != 0 {
		t.Errorf("push+pop allocates %.1f times per frame", allocs)
	}
}

func TestAllocsSessionPushAndTick(t *testing.T) {
	s, _ := NewSession(SessionConfig{Sink: discardSink{}})
	bs := newBenchSession(t, s)
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		now := epoch.Add(time.Duration(n) * FrameDuration)
		bs.feed(n, now)
		s.Push(1, bs.pkts[0][0].payload, uint16(n), 0, 1, false, now) // by id, a duplicate
		s.Tick(now)
		n++
	})
	if allocs != 0 {
		t.Errorf("push+tick of a 3-leg session allocates %.1f times per frame", allocs)
	}
}

func TestAllocsShardTick(t *testing.T) {
	p := NewPool(PoolConfig{Workers: 1})
	var all []*benchSession
	for range 20 {
		s, _ := p.NewSession(SessionConfig{Sink: discardSink{}})
		all = append(all, newBenchSession(t, s))
	}
	// Exercise the other hear sets too: intercept leaves a leg with no
	// sources, listen one with a single source.
	all[0].s.SetMode(3, ModeIntercept)
	all[1].s.SetMode(3, ModeListen)
	n := 0
	allocs := testing.AllocsPerRun(500, func() {
		now := epoch.Add(time.Duration(n) * FrameDuration)
		for _, bs := range all {
			bs.feed(n, now)
		}
		p.shards[0].tick(now)
		n++
	})
	if allocs != 0 {
		t.Errorf("shard tick allocates %.1f times per tick", allocs)
	}
}
