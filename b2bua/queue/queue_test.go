package queue

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder keeps the events a queue publishes.
type recorder struct {
	mu     sync.Mutex
	queue  []b2bua.QueueEvent
	agents []b2bua.AgentEvent
}

func (r *recorder) CallEvent(b2bua.CallEvent)               {}
func (r *recorder) SupervisionEvent(b2bua.SupervisionEvent) {}
func (r *recorder) QueueEvent(ev b2bua.QueueEvent) {
	r.mu.Lock()
	r.queue = append(r.queue, ev)
	r.mu.Unlock()
}
func (r *recorder) AgentEvent(ev b2bua.AgentEvent) {
	r.mu.Lock()
	r.agents = append(r.agents, ev)
	r.mu.Unlock()
}

func (r *recorder) left() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.queue {
		if ev.Type == b2bua.QueueLeft {
			out = append(out, ev.Call.CallID+":"+ev.Reason)
		}
	}
	return out
}

// fixture is a queue over one tenant "t" with group "g" of agents 1001-1003
// (all registered unless unregistered says otherwise).
type fixture struct {
	t     *testing.T
	q     *Queue
	clk   *clock
	rec   *recorder
	group *b2bua.Group
	mu    sync.Mutex
	woken []string
	exits map[string]b2bua.Exit
	gone  map[string]bool // unregistered extensions
}

func newFixture(t *testing.T, edit func(*b2bua.Group)) *fixture {
	t.Helper()
	g := b2bua.Group{Name: "g", Agents: []string{"1001", "1002", "1003"}, Strategy: b2bua.RingAll,
		Numbers: []b2bua.Number{{Number: "100"}, {Number: "101", Priority: 5}}}
	if edit != nil {
		edit(&g)
	}
	cfg := b2bua.Config{Tenants: []b2bua.Tenant{{Name: "t", Groups: []b2bua.Group{g},
		Users: []b2bua.User{{Extension: "1001", Role: "agent"}, {Extension: "1002", Role: "agent"},
			{Extension: "1003", Role: "agent"}, {Extension: "2001", Role: "supervisor"}}}}}
	cfg = cfg.WithDefaults()
	f := &fixture{t: t, clk: &clock{now: time.Unix(1000, 0)}, rec: &recorder{}, exits: map[string]b2bua.Exit{}, gone: map[string]bool{}}
	f.group = &cfg.Tenants[0].Groups[0]
	f.q = New(Config{Tenants: cfg.Tenants, Observer: f.rec, Now: f.clk.Now, Tick: time.Hour})
	f.q.SetPresence(func(_, ext string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return !f.gone[ext]
	})
	t.Cleanup(func() { f.q.Close() })
	return f
}

func (f *fixture) route(id string, priority int) b2bua.Decision {
	return f.q.Route(b2bua.RouteRequest{CallID: id, Tenant: "t", Group: f.group, Priority: priority,
		Caller: b2bua.Party{Number: "555" + id}, Since: f.clk.Now(),
		Wake: func() bool { f.mu.Lock(); f.woken = append(f.woken, id); f.mu.Unlock(); return true },
		Exit: func(x b2bua.Exit) bool { f.mu.Lock(); f.exits[id] = x; f.mu.Unlock(); return true }})
}

// takeWoken returns and forgets the calls woken so far.
func (f *fixture) takeWoken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.woken
	f.woken = nil
	slices.Sort(w)
	return w
}

func (f *fixture) state(ext string) b2bua.AgentStatus {
	f.t.Helper()
	a, ok := f.q.Agent("t", ext)
	if !ok {
		f.t.Fatalf("no agent %s", ext)
	}
	return a
}

func wantAgents(t *testing.T, d b2bua.Decision, want ...string) {
	t.Helper()
	if d.Wait || d.Exit != nil || !slices.Equal(d.Agents, want) {
		t.Fatalf("decision %+v, want agents %v", d, want)
	}
}

func wantWait(t *testing.T, d b2bua.Decision, position int) {
	t.Helper()
	if !d.Wait || len(d.Agents) != 0 || (position > 0 && d.Announce.Position != position) {
		t.Fatalf("decision %+v, want wait at position %d", d, position)
	}
}

// Busy agents: callers wait, in order; an agent freed is offered to the
// first of them, who is woken — and a later caller asking first gets
// nothing.
func TestFirstComeFirstServed(t *testing.T) {
	f := newFixture(t, nil)
	wantAgents(t, f.route("a", 0), "1001", "1002", "1003")
	f.q.Answered("a", "t", "1001")
	f.q.Free("t", "1002", b2bua.ReleaseWithdrawn)
	f.q.Free("t", "1003", b2bua.ReleaseWithdrawn)
	wantAgents(t, f.route("b", 0), "1002", "1003")
	f.q.Answered("b", "t", "1002")
	f.q.Free("t", "1003", b2bua.ReleaseWithdrawn)
	wantAgents(t, f.route("c", 0), "1003")
	f.q.Answered("c", "t", "1003")
	wantWait(t, f.route("d", 0), 1)
	wantWait(t, f.route("e", 0), 2)
	f.takeWoken()

	f.q.Free("t", "1001", b2bua.ReleaseEnded) // a's call ends
	if w := f.takeWoken(); !slices.Equal(w, []string{"d"}) {
		t.Fatalf("woken %v, want [d]", w)
	}
	wantWait(t, f.route("e", 0), 0) // e asks first: 1001 is d's
	wantAgents(t, f.route("d", 0), "1001")
	f.q.Answered("d", "t", "1001")
	if got := f.rec.left(); !slices.Equal(got, []string{"d:answered"}) {
		t.Fatalf("left %v", got)
	}
	if w := f.q.Waiting("t", ""); len(w) != 1 || w[0].CallID != "e" || w[0].Position != 1 {
		t.Fatalf("waiting %+v, want e at 1", w)
	}
}

// A priority line goes ahead of callers already waiting on a normal one.
func TestPriorityJumpsAhead(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) { g.Agents = []string{"1001"} })
	wantAgents(t, f.route("a", 0), "1001")
	f.q.Answered("a", "t", "1001")
	wantWait(t, f.route("n1", 0), 1)
	wantWait(t, f.route("n2", 0), 2)
	wantWait(t, f.route("vip", 5), 1)
	w := f.q.Waiting("t", "g")
	if len(w) != 3 || w[0].CallID != "vip" || w[1].CallID != "n1" || w[2].CallID != "n2" {
		t.Fatalf("order %+v", w)
	}
	f.takeWoken()
	f.q.Free("t", "1001", b2bua.ReleaseEnded)
	if got := f.takeWoken(); !slices.Equal(got, []string{"vip"}) {
		t.Fatalf("woken %v, want [vip]", got)
	}
}

// Round-robin offers one agent at a time; one that does not answer is
// skipped for the next; after MaxMissed misses in a row it is paused with
// reason no_answer, and unpausing makes it available and offered at once.
func TestNoAnswerSkipsAndPauses(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) {
		g.Strategy = b2bua.RoundRobin
		g.Agents = []string{"1001", "1002"}
		g.MaxMissed = 2
	})
	wantAgents(t, f.route("a", 0), "1001")
	f.q.Free("t", "1001", b2bua.ReleaseNoAnswer)
	wantAgents(t, f.route("a", 0), "1002")
	f.q.Free("t", "1002", b2bua.ReleaseNoAnswer)
	// Everyone tried: the caller waits, and a new round starts after the
	// retry delay.
	wantWait(t, f.route("a", 0), 1)
	f.takeWoken()
	f.clk.add(retryDelay)
	f.q.tick()
	if got := f.takeWoken(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("retry woke %v", got)
	}
	wantAgents(t, f.route("a", 0), "1001")
	f.q.Free("t", "1001", b2bua.ReleaseNoAnswer)
	if a := f.state("1001"); a.State != b2bua.AgentPaused || a.Reason != b2bua.PauseNoAnswer || a.Missed != 2 {
		t.Fatalf("after two misses: %+v", a)
	}
	f.clk.add(retryDelay)
	wantAgents(t, f.route("a", 0), "1002")
	f.q.Free("t", "1002", b2bua.ReleaseNoAnswer)
	if a := f.state("1002"); a.State != b2bua.AgentPaused {
		t.Fatalf("1002 after two misses: %+v", a)
	}
	f.clk.add(retryDelay)
	wantWait(t, f.route("a", 0), 0)
	f.takeWoken()
	if err := f.q.SetAgentState("t", "1002", b2bua.AgentAvailable, "", "1002"); err != nil {
		t.Fatal(err)
	}
	if got := f.takeWoken(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("unpause woke %v", got)
	}
	wantAgents(t, f.route("a", 0), "1002")
	f.q.Answered("a", "t", "1002")
	if a := f.state("1002"); a.State != b2bua.AgentOnCall || a.Missed != 0 {
		t.Fatalf("answered: %+v", a)
	}
}

// Wrap-up after a group call delays the agent's next offer by its time.
func TestWrapUp(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) { g.Agents = []string{"1001"}; g.WrapUp = 30 * time.Second })
	wantAgents(t, f.route("a", 0), "1001")
	f.q.Answered("a", "t", "1001")
	f.q.Free("t", "1001", b2bua.ReleaseEnded)
	if a := f.state("1001"); a.State != b2bua.AgentWrapUp {
		t.Fatalf("after the call: %+v", a)
	}
	wantWait(t, f.route("b", 0), 1)
	f.clk.add(29 * time.Second)
	f.q.tick()
	wantWait(t, f.route("b", 0), 0)
	f.clk.add(time.Second)
	f.takeWoken()
	f.q.tick()
	if got := f.takeWoken(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("wrap-up end woke %v", got)
	}
	if a := f.state("1001"); a.State != b2bua.AgentAvailable {
		t.Fatalf("after wrap-up: %+v", a)
	}
	wantAgents(t, f.route("b", 0), "1001")
}

// Exits: no agent logged in, a full queue, the maximum wait.
func TestExits(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) {
		g.Agents = []string{"1001"}
		g.Queue.MaxLength = 1
		g.Queue.MaxWait = time.Minute
		g.Queue.Overflow = b2bua.Exit{Number: "+15550000"}
	})
	f.gone["1001"] = true
	if d := f.route("a", 0); d.Exit == nil || d.Exit.Why != "no_agents" || d.Exit.Number != "+15550000" {
		t.Fatalf("nobody logged in: %+v", d)
	}
	f.mu.Lock()
	f.gone["1001"] = false
	f.mu.Unlock()
	f.q.Registered("t", "1001")
	wantAgents(t, f.route("b", 0), "1001")
	f.q.Answered("b", "t", "1001")
	wantWait(t, f.route("c", 0), 1)
	if d := f.route("d", 0); d.Exit == nil || d.Exit.Why != "full" {
		t.Fatalf("full queue: %+v", d)
	}
	f.clk.add(time.Minute)
	f.q.tick()
	f.mu.Lock()
	x, ok := f.exits["c"]
	f.mu.Unlock()
	if !ok || x.Why != b2bua.LeftTimedOut || x.Number != "+15550000" {
		t.Fatalf("max wait: %+v %v", x, ok)
	}
	if got := f.rec.left(); !slices.Contains(got, "c:timed_out") || !slices.Contains(got, "a:overflowed") {
		t.Fatalf("left %v", got)
	}
	if w := f.q.Waiting("t", ""); len(w) != 0 {
		t.Fatalf("still waiting: %+v", w)
	}
}

// A caller hanging up while queued is abandoned, with its wait; the
// statistics count it.
func TestAbandoned(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) { g.Agents = []string{"1001"} })
	wantAgents(t, f.route("a", 0), "1001")
	f.q.Answered("a", "t", "1001")
	wantWait(t, f.route("b", 0), 1)
	f.clk.add(12 * time.Second)
	f.q.Left("b", b2bua.EndCallerHangup)
	var left *b2bua.QueueEvent
	for i := range f.rec.queue {
		if f.rec.queue[i].Type == b2bua.QueueLeft {
			left = &f.rec.queue[i]
		}
	}
	if left == nil || left.Reason != b2bua.LeftAbandoned || left.Wait != 12*time.Second {
		t.Fatalf("left event %+v", left)
	}
	st := f.q.Stats()
	if len(st.Groups) != 1 || st.Groups[0].Left[b2bua.LeftAbandoned] != 1 || st.Groups[0].Joined != 1 || st.Groups[0].Waiting != 0 {
		t.Fatalf("stats %+v", st.Groups)
	}
}

// Agent states from the API and the phone: pause with a reason, log out,
// an unregistered agent is logged_out; every change is an event naming
// the actor.
func TestAgentStates(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.q.SetAgentState("t", "1001", b2bua.AgentPaused, "lunch", "2001"); err != nil {
		t.Fatal(err)
	}
	if a := f.state("1001"); a.State != b2bua.AgentPaused || a.Reason != "lunch" {
		t.Fatalf("%+v", a)
	}
	if err := f.q.SetAgentState("t", "1001", b2bua.AgentPaused, "nap", "2001"); !errors.Is(err, ErrUnknownReason) {
		t.Fatalf("unknown reason: %v", err)
	}
	if err := f.q.SetAgentState("t", "9999", b2bua.AgentPaused, "", "2001"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := f.q.SetAgentState("t", "1002", b2bua.AgentLoggedOut, "", "1002"); err != nil {
		t.Fatal(err)
	}
	wantAgents(t, f.route("a", 0), "1003")
	f.mu.Lock()
	f.gone["1003"] = true
	f.mu.Unlock()
	f.q.Free("t", "1003", b2bua.ReleaseWithdrawn)
	if a := f.state("1003"); a.State != b2bua.AgentLoggedOut || a.Registered {
		t.Fatalf("unregistered: %+v", a)
	}
	var last b2bua.AgentEvent
	for _, ev := range f.rec.agents {
		if ev.Agent.Extension == "1001" {
			last = ev
		}
	}
	if last.Actor != "2001" || last.Agent.State != b2bua.AgentPaused || last.Reason != "lunch" {
		t.Fatalf("event %+v", last)
	}
	team := f.q.Team("t")
	if len(team) != 4 || team[3].Extension != "2001" || team[3].Role != "supervisor" {
		t.Fatalf("team %+v", team)
	}
}

// Route takes no lock another goroutine could hold while calling back:
// wake-ups run after the queue's mutex is released (a wake that routes
// again must not deadlock).
func TestCallbacksOutsideLock(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) { g.Agents = []string{"1001"} })
	wantAgents(t, f.route("a", 0), "1001")
	f.q.Answered("a", "t", "1001")
	done := make(chan b2bua.Decision, 1)
	f.q.Route(b2bua.RouteRequest{CallID: "b", Tenant: "t", Group: f.group, Since: f.clk.Now(),
		Wake: func() bool { done <- f.route("b", 0); return true }})
	f.q.Free("t", "1001", b2bua.ReleaseEnded)
	select {
	case d := <-done:
		wantAgents(t, d, "1001")
	case <-time.After(5 * time.Second):
		t.Fatal("wake did not route again")
	}
}

// With the default max_missed (3), the third unanswered offer in a row
// pauses the agent with reason no_answer, not the second.
func TestDefaultMaxMissedIsThree(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) { g.Agents = []string{"1001"} })
	if f.group.MaxMissed != 3 {
		t.Fatalf("default max_missed %d", f.group.MaxMissed)
	}
	for i := 1; i <= 3; i++ {
		f.clk.add(retryDelay)
		wantAgents(t, f.route("a", 0), "1001")
		f.q.Free("t", "1001", b2bua.ReleaseNoAnswer)
		want := b2bua.AgentAvailable
		if i == 3 {
			want = b2bua.AgentPaused
		}
		if a := f.state("1001"); a.State != want || a.Missed != i {
			t.Fatalf("after %d misses: %+v, want %s", i, a, want)
		}
	}
}

// TestPositionsMoveUp: when a queued caller leaves, each caller behind
// it moves up a place, with one event each carrying the new position;
// those ahead of it get none.
func TestPositionsMoveUp(t *testing.T) {
	f := newFixture(t, func(g *b2bua.Group) { g.Agents = []string{"1001"} })
	wantAgents(t, f.route("busy", 0), "1001")
	f.q.Answered("busy", "t", "1001")
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		wantWait(t, f.route(id, 0), i+1)
	}
	moved := func() []string {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		var out []string
		for _, ev := range f.rec.queue {
			if ev.Type == b2bua.QueuePositionChanged {
				out = append(out, fmt.Sprintf("%s:%d", ev.Call.CallID, ev.Call.Position))
			}
		}
		f.rec.queue = nil
		return out
	}
	moved()
	f.q.Left("b", b2bua.EndCallerHangup)
	if got, want := moved(), []string{"c:2", "d:3", "e:4"}; !slices.Equal(got, want) {
		t.Fatalf("after b left: moved %v, want %v", got, want)
	}
	f.q.Left("a", b2bua.EndCallerHangup)
	if got, want := moved(), []string{"c:1", "d:2", "e:3"}; !slices.Equal(got, want) {
		t.Fatalf("after a left: moved %v, want %v", got, want)
	}
	f.q.Left("e", b2bua.EndCallerHangup)
	if got := moved(); len(got) != 0 {
		t.Fatalf("after the last left: moved %v, want none", got)
	}
	var at []string
	for _, w := range f.q.Waiting("t", "") {
		at = append(at, fmt.Sprintf("%s:%d", w.CallID, w.Position))
	}
	if want := []string{"c:1", "d:2"}; !slices.Equal(at, want) {
		t.Fatalf("waiting %v, want %v", at, want)
	}
}
