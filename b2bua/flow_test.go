package b2bua

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
	"github.com/emiago/sipgo/sip"
)

// The flow tests run a Server on loopback with real SIP phones
// (internal/phone) and the echo media: they exercise the call's legs,
// routing and supervision on the wire, in this package's own tests. Who
// hears whom is the end-to-end tests' business (e2e), with real media.

// flowTenants: a carrier on 127.0.2.0/24 calling the support number 100,
// two agents and a supervisor.
func flowTenants(st Strategy, ring time.Duration) []Tenant {
	return []Tenant{{
		Name:   "demo",
		Trunks: []Trunk{{Name: "carrier", Outbound: "127.0.2.9:5060", Transport: "udp", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.2.0/24")}}},
		Groups: []Group{{Name: "support", Strategy: st, RingTimeout: ring,
			Numbers: []Number{{Number: "100", Label: "Support"}}, Agents: []string{"1001", "1002"}}},
		Users: []User{
			{Extension: "1001", Name: "Alice", Role: RoleAgent, Password: "pw"},
			{Extension: "1002", Name: "Bob", Role: RoleAgent, Password: "pw"},
			{Extension: "2001", Name: "Sam", Role: RoleSupervisor, Password: "pw"},
		},
	}}
}

type flow struct {
	t    *testing.T
	s    *Server
	addr string
}

func startFlow(t *testing.T, st Strategy, ring time.Duration) *flow {
	t.Helper()
	s := newTestServer(t, Config{Tenants: flowTenants(st, ring), Registration: testPolicy,
		SupervisorRingTimeout: 2 * time.Second}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	return &flow{t: t, s: s, addr: addrs[0]}
}

func (f *flow) phone(ip, user, password string) *phone.Phone {
	f.t.Helper()
	p, err := phone.New(phone.Config{IP: ip, User: user, Password: password, Server: f.addr, Tone: 700})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(p.Close)
	return p
}

func (f *flow) user(ip, ext string) *phone.Phone {
	f.t.Helper()
	p := f.phone(ip, ext, "pw")
	if code, err := p.Register(flowCtx(f.t), 600); err != nil || code != 200 {
		f.t.Fatalf("register %s: %d %v", ext, code, err)
	}
	return p
}

func flowCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// answerNext makes p answer its next call once it has rung.
func answerNext(t *testing.T, p *phone.Phone) <-chan *phone.Session {
	ch := make(chan *phone.Session, 1)
	go func() {
		defer close(ch)
		in, err := p.Next(flowCtx(t))
		if err != nil {
			return
		}
		_ = in.Ring()
		if s, err := in.Answer(); err == nil {
			ch <- s
		}
	}()
	return ch
}

// connect has cust call the support number and agent answer; it returns
// both ends of the answered call.
func (f *flow) connect(agent, cust *phone.Phone) (cs, as *phone.Session) {
	f.t.Helper()
	got := answerNext(f.t, agent)
	cs, err := cust.Call(flowCtx(f.t), "100")
	if err != nil {
		f.t.Fatalf("call: %v", err)
	}
	if as = <-got; as == nil {
		f.t.Fatal("the agent did not answer")
	}
	return cs, as
}

// waitState polls the live call table until the one call is in state.
func (f *flow) waitState(state CallState) CallSnapshot {
	f.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cs := f.s.Calls(); len(cs) == 1 && cs[0].State == state {
			return cs[0]
		}
	}
	f.t.Fatalf("no call in state %s: %+v", state, f.s.Calls())
	return CallSnapshot{}
}

func (f *flow) waitNoCalls() {
	f.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f.s.ActiveCalls() == 0 {
			return
		}
	}
	f.t.Fatalf("calls left: %+v", f.s.Calls())
}

// waitOutcome waits until n calls ended for reason (a call's end is
// counted after its last response went out).
func (f *flow) waitOutcome(reason string, n uint64) {
	f.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f.s.Stats().CallsByOutcome[reason] == n {
			return
		}
	}
	f.t.Fatalf("outcomes %v, want %d %s", f.s.Stats().CallsByOutcome, n, reason)
}

func ended(t *testing.T, who string, s *phone.Session) {
	t.Helper()
	select {
	case <-s.Ended():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: call did not end", who)
	}
}

func callCode(err error) int {
	var se *phone.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestFlowInboundCallBothWaysHangup(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	agent := f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	for i, callerHangs := range []bool{true, false} {
		got := answerNext(t, agent)
		cs, err := cust.Call(flowCtx(t), "100")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		as := <-got
		snap := f.waitState(StateAnswered)
		if snap.Direction != Inbound || snap.Group != "support" || len(snap.Agents) != 1 || snap.Agents[0] != "1001" {
			t.Fatalf("snapshot %+v", snap)
		}
		if callerHangs {
			if err := cs.Hangup(flowCtx(t)); err != nil {
				t.Fatal(err)
			}
			ended(t, "agent", as)
		} else {
			if err := as.Hangup(flowCtx(t)); err != nil {
				t.Fatal(err)
			}
			ended(t, "customer", cs)
		}
		f.waitNoCalls()
	}
	f.waitOutcome(EndCallerHangup, 1)
	f.waitOutcome(EndCalleeHangup, 1)
}

func TestFlowRingAllOneAnswersOtherCanceled(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	a := f.user("127.0.3.1", "1001")
	b := f.user("127.0.3.2", "1002")
	cust := f.phone("127.0.2.1", "5551234", "")
	got := answerNext(t, a)
	canceled := make(chan bool, 1)
	go func() {
		in, err := b.Next(flowCtx(t))
		if err != nil {
			canceled <- false
			return
		}
		_ = in.Ring()
		select {
		case <-in.Canceled():
			canceled <- true
		case <-time.After(5 * time.Second):
			canceled <- false
		}
	}()
	cs, err := cust.Call(flowCtx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	as := <-got
	if !<-canceled {
		t.Fatal("the other agent was not canceled")
	}
	_ = cs.Hangup(flowCtx(t))
	ended(t, "agent", as)
}

func TestFlowRoundRobinHuntsThenGivesUp(t *testing.T) {
	f := startFlow(t, RoundRobin, 300*time.Millisecond)
	a := f.user("127.0.3.1", "1001")
	b := f.user("127.0.3.2", "1002")
	cust := f.phone("127.0.2.1", "5551234", "")
	rang := make(chan string, 2)
	for _, p := range []*phone.Phone{a, b} {
		go func() {
			in, err := p.Next(flowCtx(t))
			if err == nil {
				_ = in.Ring()
				rang <- in.Req.To().Address.User
			}
		}()
	}
	_, err := cust.Call(flowCtx(t), "100")
	if callCode(err) != 480 {
		t.Fatalf("call: %v, want 480 after both agents rang out", err)
	}
	if x, y := <-rang, <-rang; x == y {
		t.Fatalf("rang %s twice", x)
	}
	f.waitOutcome(EndNoAnswer, 1)
}

func TestFlowNoAgentAndUnknownNumber(t *testing.T) {
	f := startFlow(t, RingAll, time.Second)
	cust := f.phone("127.0.2.1", "5551234", "")
	if _, err := cust.Call(flowCtx(t), "100"); callCode(err) != 480 {
		t.Fatalf("nobody registered: %v, want 480", err)
	}
	if _, err := cust.Call(flowCtx(t), "999"); callCode(err) != 404 {
		t.Fatalf("unknown number: %v, want 404", err)
	}
	stranger := f.phone("127.0.4.1", "5559999", "")
	if _, err := stranger.Call(flowCtx(t), "100"); callCode(err) != 403 {
		t.Fatalf("unknown source: %v, want 403", err)
	}
}

func TestFlowCallerCancels(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	agent := f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	canceled := make(chan bool, 1)
	ringing := make(chan struct{})
	go func() {
		in, err := agent.Next(flowCtx(t))
		if err != nil {
			canceled <- false
			return
		}
		_ = in.Ring()
		close(ringing)
		select {
		case <-in.Canceled():
			canceled <- true
		case <-time.After(5 * time.Second):
			canceled <- false
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := cust.Call(ctx, "100"); done <- err }()
	<-ringing
	f.waitState(StateRinging)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("canceled call succeeded")
	}
	if !<-canceled {
		t.Fatal("agent not canceled")
	}
	f.waitOutcome(EndCanceled, 1)
}

func TestFlowReinviteAndInDialogRequests(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	agent := f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	cs, as := f.connect(agent, cust)
	for _, dir := range []string{"sendonly", "sendrecv"} {
		if code, err := cs.Reinvite(flowCtx(t), dir); err != nil || code != 200 {
			t.Fatalf("re-INVITE %s: %d %v", dir, code, err)
		}
	}
	if code, err := cs.Info(flowCtx(t), '5'); err != nil || code != 200 {
		t.Fatalf("INFO: %d %v", code, err)
	}
	n := 0
	for _, r := range agent.InDialog() {
		if r.Method == sip.INVITE {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("agent saw %d re-INVITEs, want the customer's 2", n)
	}
	_ = cs.Hangup(flowCtx(t))
	ended(t, "agent", as)
}

func TestFlowExtensionToExtension(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	a := f.user("127.0.3.1", "1001")
	b := f.user("127.0.3.2", "1002")
	got := answerNext(t, b)
	s, err := a.Call(flowCtx(t), "1002")
	if err != nil {
		t.Fatal(err)
	}
	bs := <-got
	if snap := f.waitState(StateAnswered); snap.Direction != Internal {
		t.Fatalf("snapshot %+v", snap)
	}
	_ = bs.Hangup(flowCtx(t))
	ended(t, "caller", s)
}

func TestFlowSupervisionByFeatureCodeAndAPI(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	agent := f.user("127.0.3.1", "1001")
	sup := f.user("127.0.3.9", "2001")
	cust := f.phone("127.0.2.1", "5551234", "")
	cs, as := f.connect(agent, cust)
	call := f.waitState(StateAnswered)

	// Dial-in: *1 + the agent's extension.
	ss, err := sup.Call(flowCtx(t), "*11001")
	if err != nil {
		t.Fatalf("dial-in: %v", err)
	}
	sups := waitSupervisions(t, f.s, 1)
	if sups[0].Mode != ModeListen || sups[0].State != SupActive || sups[0].Via != ViaFeatureCode {
		t.Fatalf("supervision %+v", sups[0])
	}
	if _, err := f.s.SetSupervisionMode("demo", "2001", sups[0].ID, ModeWhisper); err != nil {
		t.Fatal(err)
	}
	if err := f.s.EndSupervision("demo", "2001", sups[0].ID); err != nil {
		t.Fatal(err)
	}
	ended(t, "supervisor's dial-in", ss)

	// Through the API: earshot rings the supervisor.
	rung := answerNext(t, sup)
	snap, err := f.s.Supervise("demo", "2001", call.ID, ModeBarge, RingBoth)
	if err != nil || snap.State != SupRinging {
		t.Fatalf("Supervise: %+v %v", snap, err)
	}
	ss2 := <-rung
	if ss2 == nil {
		t.Fatal("supervisor's phone did not answer")
	}
	waitSupervisionState(t, f.s, snap.ID, SupActive)
	// The supervisor hangs up: the supervision ends, the call goes on.
	_ = ss2.Hangup(flowCtx(t))
	waitSupervisionState(t, f.s, snap.ID, SupEnded)
	_ = cs.Hangup(flowCtx(t))
	ended(t, "agent", as)
}

func TestFlowIntercept(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	agent := f.user("127.0.3.1", "1001")
	sup := f.user("127.0.3.9", "2001")
	cust := f.phone("127.0.2.1", "5551234", "")
	cs, as := f.connect(agent, cust)
	f.waitState(StateAnswered)
	ss, err := sup.Call(flowCtx(t), "*41001")
	if err != nil {
		t.Fatalf("intercept: %v", err)
	}
	ended(t, "agent (intercepted)", as)
	// The agent's BYE goes out before the call table names the new agent:
	// wait for the table.
	var snap CallSnapshot
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if snap = f.waitState(StateAnswered); len(snap.Agents) == 1 && snap.Agents[0] == "2001" {
			break
		}
	}
	if len(snap.Agents) != 1 || snap.Agents[0] != "2001" {
		t.Fatalf("after intercept %+v", snap)
	}
	_ = cs.Hangup(flowCtx(t))
	ended(t, "supervisor", ss)
}

func TestFlowDrainRefusesNewCalls(t *testing.T) {
	f := startFlow(t, RingAll, 5*time.Second)
	f.user("127.0.3.1", "1001")
	cust := f.phone("127.0.2.1", "5551234", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f.s.Drain(ctx) // no calls: returns at once, and stays draining
	if _, err := cust.Call(flowCtx(t), "100"); callCode(err) != 503 {
		t.Fatalf("call while draining: %v, want 503", err)
	}
	// A dispatcher's OPTIONS probe learns it too, with Retry-After.
	conn, err := net.Dial("udp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	probe := "OPTIONS sip:" + f.addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-ping\r\n" +
		"From: <sip:ds@127.0.2.1>;tag=p\r\nTo: <sip:" + f.addr + ">\r\nCall-ID: ping\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(probe)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	res := string(buf[:n])
	if !strings.HasPrefix(res, "SIP/2.0 503 ") || !strings.Contains(res, "Retry-After: ") {
		t.Fatalf("OPTIONS while draining: %q", res)
	}
}

func waitSupervisions(t *testing.T, s *Server, n int) []SupervisionSnapshot {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if sups := s.Supervisions(); len(sups) == n && sups[0].State == SupActive {
			return sups
		}
	}
	t.Fatalf("supervisions %+v, want %d active", s.Supervisions(), n)
	return nil
}

func waitSupervisionState(t *testing.T, s *Server, id string, st SupervisionState) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if snap, ok := s.Supervision(id); ok && snap.State == st {
			return
		}
		if _, ok := s.Supervision(id); !ok && st == SupEnded {
			return
		}
	}
	snap, _ := s.Supervision(id)
	t.Fatalf("supervision %s: %+v, want %s", id, snap, st)
}
