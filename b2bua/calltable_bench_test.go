package b2bua

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkAppendCalls5000: the live call table read by the control
// plane's GET /api/v1/calls and /stats (AppendCalls) with 5,000 answered
// calls, each set up through the SIP listener by a carrier's INVITE and an
// agent phone's 200 (callHarness), p50 and p99 reported. The control
// plane's own share (filter, sort, JSON) is control's
// BenchmarkListCalls5000, which reads a table built in memory.
func BenchmarkAppendCalls5000(b *testing.B) {
	const calls = 5000
	tenants := flowTenants(LongestIdle, 0)
	g := &tenants[0].Groups[0]
	g.Agents = nil
	for i := range calls {
		ext := strconv.Itoa(10000 + i)
		g.Agents = append(g.Agents, ext)
		tenants[0].Users = append(tenants[0].Users, User{Extension: ext, Name: "Agent " + ext, Role: RoleAgent, Password: "pw"})
	}
	s := newTestServer(b, Config{Tenants: tenants, Registration: testPolicy, MaxCalls: calls + 100}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		b.Fatal(err)
	}
	h := newCallHarness(b, netip.MustParseAddrPort(addrs[0]))
	h.state = func() any { return len(s.Calls()) }
	for _, ext := range g.Agents {
		req := sipRequest(b, "REGISTER", "sip:"+addrs[0],
			"Contact: <sip:"+ext+"@"+h.agentAddr.String()+">", "From: <sip:"+ext+"@demo>;tag=r", "To: <sip:"+ext+"@demo>")
		req.SetSource(h.agentAddr.String())
		if _, rerr := s.reg.update("demo", ext, req); rerr != nil {
			b.Fatalf("register %s: %+v", ext, rerr)
		}
	}
	for n := range calls {
		h.answer(n)
	}
	dst := s.AppendCalls(nil)
	if len(dst) != calls {
		b.Fatalf("%d calls in the table, want %d", len(dst), calls)
	}
	for _, c := range dst {
		if c.State != StateAnswered {
			b.Fatalf("call %s is %v, want answered", c.ID, c.State)
		}
	}
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		dst = s.AppendCalls(dst[:0])
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	if len(dst) != calls {
		b.Fatalf("%d calls read, want %d", len(dst), calls)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
