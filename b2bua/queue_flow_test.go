package b2bua

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// scriptedRouter answers Route with the decisions a test queues, keeps the
// last request's callbacks (the queue's side of a waiting call) and
// records what the call tells it. Free, Hold and Busy count nothing: the
// flow tests look at the wire.
type scriptedRouter struct {
	mu        sync.Mutex
	decisions []Decision
	last      RouteRequest
	routes    int
	answered  []string // callID/ext
	left      []string // callID:reason
	picked    string
}

func (r *scriptedRouter) push(d ...Decision) {
	r.mu.Lock()
	r.decisions = append(r.decisions, d...)
	r.mu.Unlock()
}

func (r *scriptedRouter) Route(req RouteRequest) Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.routes = req, r.routes+1
	if len(r.decisions) == 0 {
		return Decision{Wait: true}
	}
	d := r.decisions[0]
	r.decisions = r.decisions[1:]
	return d
}
func (r *scriptedRouter) Hold(string, string)          {}
func (r *scriptedRouter) Free(string, string, Release) {}
func (r *scriptedRouter) Busy(string, string) bool     { return false }
func (r *scriptedRouter) Registered(string, string)    {}
func (r *scriptedRouter) Answered(callID, _, ext string) {
	r.mu.Lock()
	r.answered = append(r.answered, callID+"/"+ext)
	r.mu.Unlock()
}
func (r *scriptedRouter) Left(callID, reason string) {
	r.mu.Lock()
	r.left = append(r.left, reason)
	r.mu.Unlock()
}
func (r *scriptedRouter) Pick(callID, _, ext string) error {
	r.mu.Lock()
	r.picked = ext
	r.mu.Unlock()
	r.push(Decision{Agents: []string{ext}})
	return nil
}

func (r *scriptedRouter) request() RouteRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// queueFlow is a flow whose Server routes through a scriptedRouter, with a
// second group "sales" and the agent-state control agents.
func queueFlow(t *testing.T, edit func(*Group)) (*flow, *scriptedRouter, *recordingAgents) {
	t.Helper()
	tenants := flowTenants(RingAll, 2*time.Second)
	tenants[0].Groups = append(tenants[0].Groups, Group{Name: "sales", Numbers: []Number{{Number: "200"}}, Agents: []string{"1002"}})
	if edit != nil {
		edit(&tenants[0].Groups[0])
	}
	r, ag := &scriptedRouter{}, &recordingAgents{}
	s := newTestServer(t, Config{Tenants: tenants, Registration: testPolicy, Router: r, Agents: ag}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	return &flow{t: t, s: s, addr: addrs[0]}, r, ag
}

// recordingAgents is an AgentControl that records the changes asked for.
type recordingAgents struct {
	mu      sync.Mutex
	changes []string
	refuse  bool
}

func (a *recordingAgents) SetAgentState(tenant, ext string, st AgentState, reason, actor string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse {
		return ErrUserBusy
	}
	a.changes = append(a.changes, ext+" "+string(st)+" "+reason+" by "+actor)
	return nil
}

// A waiting caller is answered by earshot itself (one 200), is in state
// queued, rings the agent when the router wakes it, and is connected when
// the agent answers — without a second answer to the caller.
func TestFlowQueuedCallerAnsweredOnce(t *testing.T) {
	f, r, _ := queueFlow(t, nil)
	agent := f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	cs, err := cust.Call(flowCtx(t), "100")
	if err != nil {
		t.Fatalf("queued caller: %v", err)
	}
	snap := f.waitState(StateQueued)
	if snap.QueuedAt.IsZero() {
		t.Fatalf("snapshot %+v", snap)
	}
	if req := r.request(); req.Number != "100" || req.Label != "Support" || req.Caller.Number != "5551234" {
		t.Fatalf("route request %+v", req)
	}
	// An announcement and a wake while nobody is free change nothing.
	if !r.request().Announce(Announcement{Position: 1}) || !r.request().Wake() {
		t.Fatal("the call refused a callback")
	}
	got := answerNext(t, agent)
	r.push(Decision{Agents: []string{"1001"}})
	r.request().Wake()
	as := <-got
	if as == nil {
		t.Fatal("the agent was not rung")
	}
	f.waitState(StateAnswered)
	r.mu.Lock()
	answered := strings.Join(r.answered, ",")
	r.mu.Unlock()
	if answered != snap.ID+"/1001" {
		t.Fatalf("router told %q", answered)
	}
	if n := cust.InDialog(); len(n) != 0 {
		t.Fatalf("the caller got in-dialog requests: %v", n)
	}
	if err := cs.Hangup(flowCtx(t)); err != nil {
		t.Fatal(err)
	}
	ended(t, "agent", as)
	f.waitNoCalls()
}

// With early media the waiting caller gets 183 and the 200 only when an
// agent answers.
func TestFlowQueueEarlyMedia(t *testing.T) {
	f, r, _ := queueFlow(t, func(g *Group) { g.Queue.EarlyMedia = true })
	agent := f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	done := make(chan error, 1)
	var cs *phone.Session
	go func() {
		var err error
		cs, err = cust.Call(flowCtx(t), "100")
		done <- err
	}()
	f.waitState(StateQueued)
	select {
	case err := <-done:
		t.Fatalf("the caller was answered while waiting in early media: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	got := answerNext(t, agent)
	r.push(Decision{Agents: []string{"1001"}})
	r.request().Wake()
	if err := <-done; err != nil {
		t.Fatalf("caller: %v", err)
	}
	as := <-got
	if as == nil {
		t.Fatal("the agent did not answer")
	}
	_ = cs.Hangup(flowCtx(t))
	f.waitNoCalls()
}

// Exits: a final status before the caller was answered, then a BYE with
// a Reason once it was; another group through Exit and a supervisor's
// pick; moves of calls that do not wait are refused.
func TestFlowQueueExits(t *testing.T) {
	f, r, _ := queueFlow(t, nil)
	cust := f.phone("127.0.2.1", "5551234", "")
	r.push(Decision{Exit: &Exit{Why: "full", Status: 486, Reason: "Queue Full"}})
	if _, err := cust.Call(flowCtx(t), "100"); callCode(err) != 486 {
		t.Fatalf("full queue: %v, want 486", err)
	}
	f.waitNoCalls()

	cs, err := cust.Call(flowCtx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	snap := f.waitState(StateQueued)
	if err := f.s.Move("demo", snap.ID, "nowhere"); err != ErrNoSuchGroup {
		t.Fatalf("move to an unknown group: %v", err)
	}
	if err := f.s.Move("demo", snap.ID, "sales"); err != nil {
		t.Fatal(err)
	}
	if req := r.request(); req.Group.Name != "sales" {
		t.Fatalf("after the move the call routes to %q", req.Group.Name)
	}
	sup := f.user("127.0.3.5", "2001")
	got := answerNext(t, sup)
	if err := f.s.Pick("demo", "2001", snap.ID); err != nil {
		t.Fatal(err)
	}
	ss := <-got
	if ss == nil {
		t.Fatal("the supervisor was not rung")
	}
	if snap := f.waitState(StateAnswered); snap.Agents[0] != "2001" || snap.Group != "sales" {
		t.Fatalf("after the pick: %+v", snap)
	}
	if err := f.s.Pick("demo", "2001", snap.ID); err != ErrNotQueued {
		t.Fatalf("pick of an answered call: %v", err)
	}
	_ = cs.Hangup(flowCtx(t))
	ended(t, "supervisor", ss)
	f.waitNoCalls()

	// Answered and waiting, then the maximum wait: BYE with the status.
	cs, err = cust.Call(flowCtx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	f.waitState(StateQueued)
	r.request().Exit(Exit{Why: LeftTimedOut, Status: 480, Reason: "Temporarily Unavailable"})
	ended(t, "timed-out caller", cs)
	var reason string
	for _, req := range cust.InDialog() {
		if req.Method == "BYE" {
			if h := req.GetHeader("Reason"); h != nil {
				reason = h.Value()
			}
		}
	}
	if reason != `SIP;cause=480;text="Temporarily Unavailable"` {
		t.Fatalf("BYE Reason %q", reason)
	}
	f.waitOutcome(EndOverflow, 2)
}

// Agent-state feature codes: the change is asked of the AgentControl as
// the dialling user, confirmed with a 200 and a BYE naming the state; an
// unknown reason number and a refusal are final responses.
func TestFlowAgentStateCodes(t *testing.T) {
	f, _, ag := queueFlow(t, nil)
	agent := f.user("127.0.3.1", "1001")
	for _, tc := range []struct{ code, want string }{
		{"*5", "1001 paused break by 1001"},
		{"*52", "1001 paused lunch by 1001"},
		{"*6", "1001 available  by 1001"},
		{"*8", "1001 logged_out  by 1001"},
	} {
		s, err := agent.Call(flowCtx(t), tc.code)
		if err != nil {
			t.Fatalf("%s: %v", tc.code, err)
		}
		ended(t, tc.code, s)
		ag.mu.Lock()
		last := ag.changes[len(ag.changes)-1]
		ag.mu.Unlock()
		if last != tc.want {
			t.Fatalf("%s asked %q, want %q", tc.code, last, tc.want)
		}
	}
	var reasons []string
	for _, req := range agent.InDialog() {
		if h := req.GetHeader("Reason"); req.Method == "BYE" && h != nil {
			reasons = append(reasons, h.Value())
		}
	}
	if strings.Join(reasons, "|") != `SIP;cause=200;text="Paused (break)"|SIP;cause=200;text="Paused (lunch)"|SIP;cause=200;text="Available"|SIP;cause=200;text="Logged Out"` {
		t.Fatalf("confirmations: %q", reasons)
	}
	if _, err := agent.Call(flowCtx(t), "*59"); callCode(err) != 404 {
		t.Fatalf("*59: %v, want 404", err)
	}
	ag.mu.Lock()
	ag.refuse = true
	ag.mu.Unlock()
	if _, err := agent.Call(flowCtx(t), "*6"); callCode(err) != 403 {
		t.Fatalf("refused change: %v, want 403", err)
	}
	if got := f.s.Calls(); len(got) != 0 {
		t.Fatalf("feature-code calls listed: %+v", got)
	}
	f.waitNoCalls()
}

// unmixableMedia is the echo media of a call relayed in a codec the mixer
// cannot decode.
type unmixableMedia struct{}

func (unmixableMedia) NewSession(string, func()) (MediaSession, error) {
	return unmixableSession{}, nil
}

type unmixableSession struct{ echoSession }

func (unmixableSession) Mixable() bool { return false }

// A supervisor dialling into a call the mixer cannot decode gets 488
// before anything is answered, never 200 and then BYE.
func TestFlowSupervisionOfUnmixableCallRefused(t *testing.T) {
	s := newTestServer(t, Config{Tenants: flowTenants(RingAll, 2*time.Second), Registration: testPolicy, Media: unmixableMedia{}}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, s: s, addr: addrs[0]}
	agent := f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	cs, _ := f.connect(agent, cust)
	sup := f.user("127.0.3.5", "2001")
	if _, err := sup.Call(flowCtx(t), "*11001"); callCode(err) != 488 {
		t.Fatalf("*11001 on an Opus call: %v, want 488", err)
	}
	_ = cs.Hangup(flowCtx(t))
	f.waitNoCalls()
}
