package b2bua

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// TestAppendCallsOrder: the listing the control plane reads has the live
// calls in start order, also after most of them ended and the order was
// compacted; it hands out the same snapshot while a call does not change,
// and a snapshot handed out is never changed by a later update.
func TestAppendCallsOrder(t *testing.T) {
	const calls = 300
	tenants := flowTenants(LongestIdle, 0)
	g := &tenants[0].Groups[0]
	g.Agents = nil
	for i := range calls + 10 {
		ext := strconv.Itoa(10000 + i)
		g.Agents = append(g.Agents, ext)
		tenants[0].Users = append(tenants[0].Users, User{Extension: ext, Name: "Agent " + ext, Role: RoleAgent, Password: "pw"})
	}
	s := newTestServer(t, Config{Tenants: tenants, Registration: testPolicy, MaxCalls: calls + 100}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newCallHarness(t, netip.MustParseAddrPort(addrs[0]))
	h.state = func() any { return len(s.Calls()) }
	h.tos = map[int][]byte{}
	for _, ext := range g.Agents {
		req := sipRequest(t, "REGISTER", "sip:"+addrs[0],
			"Contact: <sip:"+ext+"@"+h.agentAddr.String()+">", "From: <sip:"+ext+"@demo>;tag=r", "To: <sip:"+ext+"@demo>")
		req.SetSource(h.agentAddr.String())
		if _, rerr := s.reg.update("demo", ext, req); rerr != nil {
			t.Fatalf("register %s: %+v", ext, rerr)
		}
	}
	// listed checks that the listing is exactly calls want (by number),
	// in that order, every one answered, and returns it. The caller's
	// 200 leaves just before the call is published answered, and its
	// 200 to the BYE before the call leaves the table: it waits for both.
	listed := func(want []int) []*CallSnapshot {
		t.Helper()
		var got []*CallSnapshot
		for deadline := time.Now().Add(5 * time.Second); ; {
			got = s.AppendCalls(got[:0])
			settled := len(got) == len(want)
			for _, c := range got {
				settled = settled && c.State == StateAnswered
			}
			if settled || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if len(got) != len(want) {
			t.Fatalf("%d calls listed, want %d", len(got), len(want))
		}
		for i, c := range got {
			if id := "bench-" + strconv.Itoa(want[i]); c.CallerCallID != id || c.State != StateAnswered {
				t.Fatalf("listing[%d] is %s (%s), want %s answered", i, c.CallerCallID, c.State, id)
			}
			if i > 0 && c.StartedAt.Before(got[i-1].StartedAt) {
				t.Fatalf("listing[%d] started %v, before listing[%d] (%v)", i, c.StartedAt, i-1, got[i-1].StartedAt)
			}
		}
		return got
	}

	var want []int
	for n := range calls {
		h.answer(n)
		want = append(want, n)
	}
	first := listed(want)
	again := listed(want)
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("call %s: a new snapshot although nothing changed", first[i].CallerCallID)
		}
	}
	// Three in four end: first those of the first 80 calls (the order
	// keeps their slots), then the rest (which compacts it).
	kept := map[string]*CallSnapshot{}
	end := func(from, to int) []int {
		var live []int
		for n := range calls {
			if n%4 != 0 && n >= from && n < to {
				kept[first[n].CallerCallID] = first[n]
				h.hangup(n)
			}
			if n%4 == 0 || n >= to {
				live = append(live, n)
			}
		}
		return live
	}
	listed(end(0, 80))
	want = end(80, calls)
	listed(want)
	s.mu.Lock()
	order, gone := len(s.order), s.orderGone
	s.mu.Unlock()
	if order >= calls || order-gone != len(want) {
		t.Errorf("order holds %d calls (%d ended), want compacted to fewer than %d with %d live", order, gone, calls, len(want))
	}
	for id, snap := range kept {
		if snap.State != StateAnswered || !snap.EndedAt.IsZero() {
			t.Fatalf("call %s: a snapshot handed out changed to %s, ended at %v", id, snap.State, snap.EndedAt)
		}
	}
	// New calls list after the old ones.
	for n := calls; n < calls+10; n++ {
		h.answer(n)
		want = append(want, n)
	}
	listed(want)
}
