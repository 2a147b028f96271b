package b2bua

import (
	"slices"
	"testing"
	"time"
)

func TestAgentRouterDecisions(t *testing.T) {
	clk := newTestClock()
	r := NewAgentRouter(clk.Now)
	g := &Group{Name: "sales", Agents: []string{"1001", "1002"}, Strategy: RoundRobin}
	tried := map[string]bool{}
	reachable := map[string]bool{"1001": true, "1002": true}
	req := RouteRequest{Tenant: "acme", Group: g,
		Tried: func(ext string) bool { return tried[ext] }, Reachable: func(ext string) bool { return reachable[ext] }}

	d := r.Route(req)
	if !slices.Equal(d.Agents, []string{"1001"}) || !r.Busy("acme", "1001") {
		t.Fatalf("first offer %+v", d)
	}
	tried["1001"] = true
	r.Free("acme", "1001", ReleaseEnded)
	if d = r.Route(req); !slices.Equal(d.Agents, []string{"1002"}) {
		t.Fatalf("second offer %+v", d)
	}
	tried["1002"] = true
	r.Free("acme", "1002", ReleaseEnded)
	// Everybody tried: the call was offered and nobody took it.
	if d = r.Route(req); len(d.Agents) != 0 || d.Status != 480 || d.Reason != "Temporarily Unavailable" {
		t.Fatalf("after everyone tried: %+v", d)
	}
	// A fresh call with nobody reachable: no agent at all.
	clear(tried)
	clear(reachable)
	if d = r.Route(req); len(d.Agents) != 0 || d.Status != 480 || d.Reason != "No Agent Available" {
		t.Fatalf("nobody reachable: %+v", d)
	}
	// Other tenants' agents of the same extension are not affected.
	if r.Busy("other", "1001") {
		t.Fatal("busy leaks across tenants")
	}
}

func TestAgentRouterHoldsCount(t *testing.T) {
	clk := newTestClock()
	r := NewAgentRouter(clk.Now)
	g := &Group{Name: "sales", Agents: []string{"1001", "1002"}, Strategy: LongestIdle}
	req := RouteRequest{Tenant: "acme", Group: g,
		Tried: func(string) bool { return false }, Reachable: func(string) bool { return true }}
	// Two holds on 1001 (ringing for one call, calling out on another):
	// one Free leaves it busy.
	r.Hold("acme", "1001")
	r.Hold("acme", "1001")
	r.Free("acme", "1001", ReleaseEnded)
	if !r.Busy("acme", "1001") {
		t.Fatal("one Free undid two Holds")
	}
	r.Free("acme", "1001", ReleaseEnded)
	clk.Advance(time.Minute)
	r.Hold("acme", "1002")
	r.Free("acme", "1002", ReleaseEnded)
	// 1001 has been idle longer than 1002.
	if d := r.Route(req); !slices.Equal(d.Agents, []string{"1001"}) {
		t.Fatalf("longest idle offered %v, want 1001", d.Agents)
	}
}

// stubRouter answers every request with one decision.
type stubRouter struct {
	Router
	d Decision
}

func (r stubRouter) Route(RouteRequest) Decision { return r.d }

func TestServerAsksItsRouter(t *testing.T) {
	clk := newTestClock()
	s := newTestServer(t, Config{Tenants: testTenants(RingAll), Registration: testPolicy,
		Router: stubRouter{Router: NewAgentRouter(clk.Now), d: Decision{Status: 486, Reason: "Busy Here"}}}, clk)
	c := groupCall(s)
	ts, d := s.pickAgents(c, c.route.group)
	if len(ts) != 0 || d.Status != 486 || d.Reason != "Busy Here" {
		t.Fatalf("targets %v, decision %+v: the server did not take its router's answer", ts, d)
	}
}
