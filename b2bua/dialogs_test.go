package b2bua

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestDialogTable: a leg is found under its dialog key until it is
// dropped or its call forgotten; dropping or forgetting leaves a leg of
// another call that took the same key since.
func TestDialogTable(t *testing.T) {
	tab := newDialogTable()
	c1, c2 := &Call{id: "c1"}, &Call{id: "c2"}
	var legs []*leg
	for i := range 200 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		l := &leg{call: c, d: dialog{callID: "cid-" + strconv.Itoa(i), localTag: "t"}}
		tab.add(l)
		legs = append(legs, l)
	}
	for _, l := range legs {
		if got := tab.find(l.d.key()); got != l {
			t.Fatalf("find(%q) = %p, want %p", l.d.key(), got, l)
		}
	}
	if n := tab.len(); n != 200 {
		t.Fatalf("len = %d, want 200", n)
	}
	seen := map[*leg]int{}
	tab.each(func(l *leg) { seen[l]++ })
	if len(seen) != 200 {
		t.Fatalf("each saw %d legs, want 200", len(seen))
	}

	// Call 2 takes the key of call 1's first leg (a supervisor's dialog
	// handed over, say): dropping or forgetting call 1's leg keeps it.
	taken := &leg{call: c2, d: legs[0].d}
	tab.add(taken)
	tab.drop(legs[0])
	if got := tab.find(legs[0].d.key()); got != taken {
		t.Fatalf("drop of a leg whose key was taken removed the new leg: %p", got)
	}
	tab.drop(legs[2])
	if got := tab.find(legs[2].d.key()); got != nil {
		t.Fatalf("dropped leg still found")
	}
	tab.forgetCall(c1)
	if c1.dialogKeys != nil {
		t.Fatalf("call 1 still lists keys: %v", c1.dialogKeys)
	}
	for i, l := range legs {
		got := tab.find(l.d.key())
		switch {
		case i == 0 && got != taken:
			t.Fatalf("forgetting call 1 removed call 2's leg under its old key")
		case i > 0 && i%2 == 0 && got != nil:
			t.Fatalf("leg %d of the forgotten call still found", i)
		case i%2 == 1 && got != l:
			t.Fatalf("leg %d of call 2 lost", i)
		}
	}
	if n := tab.len(); n != 101 {
		t.Fatalf("len = %d after call 1 forgotten, want call 2's 101", n)
	}
	tab.forgetCall(c2)
	if n := tab.len(); n != 0 {
		t.Fatalf("len = %d after both calls forgotten", n)
	}
}

// TestInDialogWithoutServerLock: a BYE reaches its call, and the call
// hangs up the other side, while the server's lock is held elsewhere (a
// call being filed, the call table listed): in-dialog requests look their
// dialog up under the dialog table's locks only. The statistics count the
// call's two dialogs while it runs and none after.
func TestInDialogWithoutServerLock(t *testing.T) {
	s, h := agentHarness(t)
	const n = 31
	h.answer(n)
	if d := s.Stats().Dialogs; d != 2 {
		t.Fatalf("dialogs while the call runs: %d, want 2", d)
	}

	s.mu.Lock()
	h.out = h.inDialog(h.out[:0], "BYE", n, 2)
	if _, err := h.caller.WriteToUDPAddrPort(h.out, h.srv); err != nil {
		s.mu.Unlock()
		t.Fatal(err)
	}
	// earshot's BYE to the agent's phone, with the server's lock held.
	_ = h.agent.SetReadDeadline(time.Now().Add(3 * time.Second))
	var bye []byte
	var from netip.AddrPort
	for bye == nil {
		m, src, err := h.agent.ReadFromUDPAddrPort(h.in)
		if err != nil {
			s.mu.Unlock()
			t.Fatalf("no BYE to the agent while the server's lock was held: %v", err)
		}
		if bytes.HasPrefix(h.in[:m], []byte("BYE ")) {
			bye, from = h.in[:m], src
		}
	}
	s.mu.Unlock()

	h.readDeadline(5 * time.Second)
	h.out = h.response(h.out[:0], bye, n, false)
	h.send(h.agent, from)
	h.recvStatus(h.caller, "BYE")
	deadline := time.Now().Add(5 * time.Second)
	for s.ActiveCalls() != 0 || s.Stats().Dialogs != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the hang-up: %d calls, %d dialogs", s.ActiveCalls(), s.Stats().Dialogs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkDialogLookupParallel: in-dialog lookups from every CPU in a
// table of 10,000 dialogs while one goroutine files and forgets calls,
// as the server's lock did it (one-lock) and as the table does.
func BenchmarkDialogLookupParallel(b *testing.B) {
	const live = 5000
	mk := func(i int) *leg {
		return &leg{call: &Call{}, d: dialog{callID: "bench-" + strconv.Itoa(i), localTag: "x"}}
	}
	keys := make([]string, 2*live)
	for i := range keys {
		keys[i] = mk(i).d.key()
	}
	filed := make([]*leg, 64) // the calls filed and forgotten meanwhile
	for i := range filed {
		filed[i] = mk(2*live + i)
	}
	b.Run("one-lock", func(b *testing.B) {
		var mu sync.Mutex
		m := map[string]*leg{}
		for i := range keys {
			m[keys[i]] = mk(i)
		}
		churn(b, func(i int) {
			l := filed[i%len(filed)]
			mu.Lock()
			m[l.d.key()] = l
			mu.Unlock()
			mu.Lock()
			delete(m, l.d.key())
			mu.Unlock()
		}, func(i int) {
			mu.Lock()
			_ = m[keys[i%len(keys)]]
			mu.Unlock()
		})
	})
	b.Run("sharded", func(b *testing.B) {
		tab := newDialogTable()
		for i := range keys {
			tab.add(mk(i))
		}
		churn(b, func(i int) {
			l := filed[i%len(filed)]
			tab.add(l)
			tab.forgetCall(l.call)
		}, func(i int) {
			_ = tab.find(keys[i%len(keys)])
		})
	})
}

// churn runs write in a loop on one goroutine while the benchmark's
// parallel loop runs read.
func churn(b *testing.B, write, read func(i int)) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			write(i)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			read(i)
			i += 7
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}
