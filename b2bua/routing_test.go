package b2bua

import (
	"slices"
	"testing"
	"time"
)

// routingServer is a server over testTenants whose agents listed in
// registered have each one binding (1003 has two when registered).
func routingServer(t *testing.T, st Strategy, registered ...string) (*Server, *testClock) {
	t.Helper()
	clk := newTestClock()
	s := newTestServer(t, Config{Tenants: testTenants(st), Registration: testPolicy}, clk)
	for _, ext := range registered {
		lines := []string{"Contact: <sip:" + ext + "@127.0.0.2:5060>"}
		if ext == "1003" {
			lines = append(lines, "Contact: <sip:"+ext+"@127.0.0.3:5070;transport=tcp>")
		}
		if _, rerr := s.reg.update("acme", ext, register(t, "reg-"+ext, 1, lines...)); rerr != nil {
			t.Fatalf("register %s: %d %s", ext, rerr.status, rerr.reason)
		}
	}
	return s, clk
}

// groupCall is a call to the sales group as classify would route it.
func groupCall(s *Server) *Call {
	td := s.dir.tenants["acme"]
	c := &Call{s: s, route: route{kind: toGroup, tenant: td, group: td.groups["sales"]}, ringing: forkSet{tried: map[string]bool{}}}
	c.snap.Store(&CallSnapshot{Tenant: "acme", Group: "sales"})
	return c
}

// pick runs pickAgents and marks the agents tried as the call's setup
// does; it returns the agents of the targets in order.
func pick(s *Server, c *Call) []string {
	var agents []string
	ts, _ := s.pickAgents(c, c.route.group)
	for _, tg := range ts {
		c.ringing.tried[tg.agent] = true
		agents = append(agents, tg.agent)
	}
	return agents
}

func TestPickAgentsRingAll(t *testing.T) {
	s, _ := routingServer(t, RingAll, "1001", "1002", "1003")
	c := groupCall(s)
	ts, _ := s.pickAgents(c, c.route.group)
	var agents []string
	for _, tg := range ts {
		c.ringing.tried[tg.agent] = true
		agents = append(agents, tg.agent)
	}
	// One target per binding: 1003's two phones both ring.
	if !slices.Equal(agents, []string{"1001", "1002", "1003", "1003"}) {
		t.Fatalf("ring-all targets %v", agents)
	}
	for _, tg := range ts {
		// The REGISTER's transport unless the contact names its own; the
		// phone is reached where its REGISTER came from.
		want := "UDP"
		if tg.uri.Port == 5070 {
			want = "TCP"
		}
		if tg.transport != want || tg.dest != "127.0.0.2:5060" {
			t.Errorf("target %s: transport %q dest %q, want %s via 127.0.0.2:5060", tg.uri.String(), tg.transport, tg.dest, want)
		}
	}
	if got := pick(s, c); got != nil {
		t.Fatalf("ring-all rang twice: %v", got)
	}
	// Every agent is now busy for any other call.
	c2 := groupCall(s)
	if got := pick(s, c2); got != nil {
		t.Fatalf("busy agents offered to a second call: %v", got)
	}
	s.release(c, "1002", ReleaseNoAnswer)
	if got := pick(s, c2); !slices.Equal(got, []string{"1002"}) {
		t.Fatalf("after release: %v, want [1002]", got)
	}
}

func TestPickAgentsSkipsUnregistered(t *testing.T) {
	s, clk := routingServer(t, RingAll, "1001", "1003")
	c := groupCall(s)
	if got := pick(s, c); !slices.Equal(got, []string{"1001", "1003", "1003"}) {
		t.Fatalf("targets %v", got)
	}
	// An unregistered agent was not reserved.
	if !slices.Equal(c.reserved, []string{"1001", "1003"}) {
		t.Fatalf("reserved %v", c.reserved)
	}
	// Expired bindings do not ring either.
	clk.Advance(testPolicy.Default)
	if got := pick(s, groupCall(s)); got != nil {
		t.Fatalf("expired agents offered: %v", got)
	}
}

func TestPickAgentsRoundRobin(t *testing.T) {
	s, _ := routingServer(t, RoundRobin, "1001", "1002", "1003")
	// Each new call starts after the agent the previous one rang.
	for i, want := range []string{"1001", "1002", "1003", "1001", "1002"} {
		c := groupCall(s)
		got := pick(s, c)
		if len(got) == 0 || got[0] != want {
			t.Fatalf("call %d: %v, want %s first", i, got, want)
		}
		if len(c.reserved) != 1 {
			t.Fatalf("round-robin reserved %v", c.reserved)
		}
		s.release(c, want, ReleaseNoAnswer)
	}
}

func TestPickAgentsRoundRobinHunts(t *testing.T) {
	s, _ := routingServer(t, RoundRobin, "1001", "1002", "1003")
	c := groupCall(s)
	var order []string
	for {
		got := pick(s, c)
		if got == nil {
			break
		}
		order = append(order, got[0])
		s.release(c, got[0], ReleaseNoAnswer) // no answer: hunt on
	}
	if !slices.Equal(order, []string{"1001", "1002", "1003"}) {
		t.Fatalf("hunt order %v", order)
	}
	// A busy agent is stepped over.
	holder := groupCall(s)
	if got := pick(s, holder); !slices.Equal(got, []string{"1001"}) {
		t.Fatalf("holder got %v", got)
	}
	c2 := groupCall(s)
	if got := pick(s, c2); !slices.Equal(got, []string{"1002"}) {
		t.Fatalf("next call got %v, want 1002", got)
	}
	c3 := groupCall(s)
	if got := pick(s, c3); !slices.Equal(got, []string{"1003", "1003"}) {
		t.Fatalf("third call got %v, want 1003's two phones", got)
	}
	if got := pick(s, groupCall(s)); got != nil {
		t.Fatalf("all busy, got %v", got)
	}
}

func TestPickAgentsLongestIdle(t *testing.T) {
	s, clk := routingServer(t, LongestIdle, "1001", "1002", "1003")
	// Agents that never took a call come first, in group order.
	c := groupCall(s)
	if got := pick(s, c); !slices.Equal(got, []string{"1001"}) {
		t.Fatalf("first pick %v", got)
	}
	clk.Advance(time.Minute)
	s.release(c, "1001", ReleaseNoAnswer)
	c = groupCall(s)
	if got := pick(s, c); !slices.Equal(got, []string{"1002"}) {
		t.Fatalf("never-used 1002 should beat 1001 idle since 1m: %v", got)
	}
	// Finish 1003 first, then 1002: 1001 has been idle longest.
	c3 := groupCall(s)
	if got := pick(s, c3); !slices.Equal(got, []string{"1003", "1003"}) {
		t.Fatalf("third pick %v", got)
	}
	clk.Advance(time.Minute)
	s.release(c3, "1003", ReleaseNoAnswer)
	clk.Advance(time.Minute)
	s.release(c, "1002", ReleaseNoAnswer)
	for _, want := range []string{"1001", "1003", "1002"} {
		c := groupCall(s)
		got := pick(s, c)
		if len(got) == 0 || got[0] != want {
			t.Fatalf("got %v, want %s (longest idle)", got, want)
		}
		clk.Advance(time.Minute)
		s.release(c, want, ReleaseNoAnswer)
	}
}

func TestReleaseIgnoresUnreserved(t *testing.T) {
	s, _ := routingServer(t, RingAll, "1001", "1002", "1003")
	holder := groupCall(s)
	pick(s, holder)
	// A call that never reserved 1001 cannot free it.
	other := groupCall(s)
	s.release(other, "1001", ReleaseNoAnswer)
	if got := pick(s, other); got != nil {
		t.Fatalf("release by a stranger freed %v", got)
	}
	s.release(holder, "1001", ReleaseNoAnswer)
	s.release(holder, "1001", ReleaseNoAnswer) // twice is harmless
	if got := pick(s, other); !slices.Equal(got, []string{"1001"}) {
		t.Fatalf("after release: %v", got)
	}
}
