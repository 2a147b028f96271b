package mixer

import (
	"sync"
	"testing"
	"time"
)

// TestShardListChurn: goroutines make and close sessions at once while
// the workers tick. Once the pool stops and the last changes are applied,
// each shard's list holds exactly its sessions still open, each once and
// at its slot, and the statistics count them and their legs.
func TestShardListChurn(t *testing.T) {
	p := NewPool(PoolConfig{Workers: 2})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 300
	var (
		mu   sync.Mutex
		open = map[*Session]bool{}
		wg   sync.WaitGroup
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*Session
			for i := range each {
				s, err := p.NewSession(SessionConfig{Sink: discardSink{}})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.AddLeg(LegConfig{ID: 1, Role: RoleCustomer, Codec: CodecPCMU}); err != nil {
					t.Error(err)
				}
				mine = append(mine, s)
				// Close two of every three, some at once, some later,
				// and in another order than they were made.
				if (i+g)%3 != 0 {
					k := (i * 7) % len(mine)
					_ = mine[k].Close()
					mine = append(mine[:k], mine[k+1:]...)
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let the workers tick
				}
			}
			mu.Lock()
			for _, s := range mine {
				open[s] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Sessions != len(open) || st.Legs != len(open) {
		t.Fatalf("stats: %d sessions %d legs, want %d of each", st.Sessions, st.Legs, len(open))
	}
	if len(open) < goroutines*each/4 {
		t.Fatalf("only %d sessions left open: the test closes too many", len(open))
	}
	seen := 0
	for _, sh := range p.shards {
		sh.apply() // the workers have stopped: the lists are the test's
		for i, s := range sh.list {
			if s.slot != i {
				t.Fatalf("session at %d of worker %d has slot %d", i, sh.idx, s.slot)
			}
			if s.shard != sh || !open[s] {
				t.Fatalf("worker %d lists a session that is closed or not its own", sh.idx)
			}
			open[s] = false // listed once
			seen++
		}
		if n := sh.counters.sessions.Load(); n != int64(len(sh.list)) {
			t.Fatalf("worker %d counts %d sessions and lists %d", sh.idx, n, len(sh.list))
		}
	}
	for s, left := range open {
		if left {
			t.Fatalf("open session on worker %d not listed (%d listed)", s.Worker(), seen)
		}
	}
}

// TestInboxDropsCounted: the statistics count the packets a leg's full
// inbox dropped while the leg lives, and the same after it is removed.
func TestInboxDropsCounted(t *testing.T) {
	p := NewPool(PoolConfig{Workers: 1}) // not started: nothing drains
	s, err := p.NewSession(SessionConfig{Sink: discardSink{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddLeg(LegConfig{ID: 1, Role: RoleCustomer, Codec: CodecPCMU}); err != nil {
		t.Fatal(err)
	}
	tk := newTalker(CodecPCMU, toneCustomer, 1, 0, 0)
	for range inboxSize + 8 {
		pk := tk.next(0)
		s.Push(1, pk.payload, pk.seq, pk.ts, pk.ssrc, false, time.Now())
	}
	if got := p.Stats().InboxDropped; got != 8 {
		t.Fatalf("dropped %d while the leg lives, want 8", got)
	}
	if err := s.RemoveLeg(1); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().InboxDropped; got != 8 {
		t.Fatalf("dropped %d after the leg's removal, want 8", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.InboxDropped != 8 || st.Sessions != 0 || st.Legs != 0 {
		t.Fatalf("after Close: %d dropped, %d sessions, %d legs", st.InboxDropped, st.Sessions, st.Legs)
	}
}

// BenchmarkSessionChurn: sessions made and closed from every CPU in a
// pool ticking 4,000 others, as calls start and end at a high rate.
func BenchmarkSessionChurn(b *testing.B) {
	p := NewPool(PoolConfig{Workers: 2})
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for range 4000 {
		if _, err := p.NewSession(SessionConfig{Sink: discardSink{}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := p.NewSession(SessionConfig{Sink: discardSink{}})
			if err != nil {
				b.Error(err)
				return
			}
			_ = s.Close()
		}
	})
}
