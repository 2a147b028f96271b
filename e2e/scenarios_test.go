package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
)

// answered sets up customer → 100 → agent 1001 and returns both sessions.
func answered(t *testing.T, e *env, agent *phone.Phone) (*phone.Session, *phone.Session) {
	t.Helper()
	cust := e.customer()
	ch := answerNext(t, agent)
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	as := <-ch
	if as == nil {
		t.Fatal("agent did not answer")
	}
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	return cs, as
}

func statusOf(err error) int {
	var se *phone.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestAgentHangsUp(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cs, as := answered(t, e, agent)
	if err := as.Hangup(ctx(t)); err != nil {
		t.Fatalf("agent bye: %v", err)
	}
	waitEnded(t, "customer", cs)
	waitActive(t, e, 0)
}

func TestHoldAndResumeByReinvite(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cs, as := answered(t, e, agent)

	code, err := cs.Reinvite(ctx(t), "sendonly")
	if err != nil || code != 200 {
		t.Fatalf("hold: %d %v", code, err)
	}
	as.RTP.Clear()
	waitFor(t, "agent hears silence while on hold", func() bool { return as.RTP.Received() > 0 })
	time.Sleep(500 * time.Millisecond) // let 400 ms of held audio accumulate: this is the measurement window
	expectSilent(t, "agent during hold", as, toneCustomer)
	expectHears(t, "customer during hold", cs, toneAgent)

	code, err = cs.Reinvite(ctx(t), "sendrecv")
	if err != nil || code != 200 {
		t.Fatalf("resume: %d %v", code, err)
	}
	expectHears(t, "agent after resume", as, toneCustomer)
	expectHears(t, "customer after resume", cs, toneAgent)
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "agent", as)
}

func TestCancelWhileRinging(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cust := e.customer()
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := cust.Call(c, "100"); errc <- err }()
	in, err := agent.Next(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Ring()
	cancel()
	select {
	case <-in.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("agent's ringing INVITE was not canceled")
	}
	if err := <-errc; err == nil {
		t.Fatal("canceled call reported success")
	}
	waitActive(t, e, 0)
}

func TestRingTimeoutGives480(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tenants[0].Groups[0].Queue.Disabled = true // a plain ring group
	cfg.Tenants[0].Groups[0].RingTimeout = config.Duration(time.Second)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	go func() {
		if in, err := agent.Next(ctx(t)); err == nil {
			_ = in.Ring()
			<-in.Canceled()
		}
	}()
	_, err := e.customer().Call(ctx(t), "100")
	if got := statusOf(err); got != 480 {
		t.Fatalf("got %v, want 480", err)
	}
}

func TestHuntingMovesToNextAgent(t *testing.T) {
	cfg := testConfig(t)
	g := &cfg.Tenants[0].Groups[0]
	g.Strategy = config.StrategyRoundRobin
	e := start(t, cfg)
	a1 := e.agent("1001", "127.0.0.3", toneAgent)
	a2 := e.agent("1002", "127.0.0.4", toneAgent)
	// Round-robin rings one agent at a time: the first one rejects, the
	// call must move on to the other, which answers.
	rang := make(chan string, 2)
	answered := make(chan *phone.Session, 1)
	for name, a := range map[string]*phone.Phone{"1001": a1, "1002": a2} {
		go func() {
			in, err := a.Next(ctx(t))
			if err != nil {
				return
			}
			rang <- name
			if len(rang) == 1 {
				_ = in.Reject(486, "Busy Here")
				return
			}
			if s, err := in.Answer(); err == nil {
				answered <- s
			}
		}()
	}
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	first, second := <-rang, <-rang
	if first == second {
		t.Fatalf("the same agent rang twice: %s", first)
	}
	as := <-answered
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "second agent", as, toneCustomer)
	_ = cs.Hangup(ctx(t))
}

func TestNoAgentRegisteredGives480(t *testing.T) {
	e := start(t, testConfig(t))
	_, err := e.customer().Call(ctx(t), "100")
	if got := statusOf(err); got != 480 {
		t.Fatalf("got %v, want 480", err)
	}
}

func TestWrongPasswordIsChallengedThenForbidden(t *testing.T) {
	e := start(t, testConfig(t))
	p := e.phone(phone.Config{IP: "127.0.0.3", User: "1001", Password: "wrong", Tone: toneAgent})
	code, err := p.Register(ctx(t), 600)
	if err != nil {
		t.Fatal(err)
	}
	if code != 403 {
		t.Fatalf("REGISTER with a wrong password: %d, want 401 then 403", code)
	}
	// And an INVITE from a user with the wrong password.
	_, err = p.Call(ctx(t), "100")
	if got := statusOf(err); got != 403 {
		t.Fatalf("INVITE with a wrong password: %v, want 403", err)
	}
}

func TestUnknownSourceIsForbidden(t *testing.T) {
	e := start(t, testConfig(t))
	e.agent("1001", "127.0.0.3", toneAgent)
	stranger := e.phone(phone.Config{IP: "127.0.0.9", User: "5559999", Tone: toneCustomer})
	_, err := stranger.Call(ctx(t), "100")
	if got := statusOf(err); got != 403 {
		t.Fatalf("got %v, want 403", err)
	}
}

func TestUnknownNumberIsNotFound(t *testing.T) {
	e := start(t, testConfig(t))
	_, err := e.customer().Call(ctx(t), "555")
	if got := statusOf(err); got != 404 {
		t.Fatalf("got %v, want 404", err)
	}
}

func TestOverloadGives503WithRetryAfter(t *testing.T) {
	cfg := testConfig(t)
	cfg.SIP.MaxCalls = 1
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	answered(t, e, agent)
	_, err := e.customer().Call(ctx(t), "100")
	if got := statusOf(err); got != 503 {
		t.Fatalf("second call: %v, want 503", err)
	}
}

func TestOutboundCallThroughTrunk(t *testing.T) {
	cfg := testConfig(t)
	carrier := carrierPhone(t, cfg, toneCustomer)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	ch := answerNext(t, carrier)
	as, err := agent.Call(ctx(t), "0049301234567")
	if err != nil {
		t.Fatalf("outbound call: %v", err)
	}
	cs := <-ch
	if cs == nil {
		t.Fatal("carrier did not answer")
	}
	expectHears(t, "carrier", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	if err := as.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "carrier", cs)
}

func TestExtensionToExtensionOverTCP(t *testing.T) {
	e := start(t, testConfig(t))
	a1 := e.phone(phone.Config{IP: "127.0.0.3", User: "1001", Password: "demo", Tone: toneAgent, TCP: true})
	if code, err := a1.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register over tcp: %d %v", code, err)
	}
	a2 := e.agent("1002", "127.0.0.4", toneOther)
	ch := answerNext(t, a2)
	s1, err := a1.Call(ctx(t), "1002")
	if err != nil {
		t.Fatalf("call 1002: %v", err)
	}
	s2 := <-ch
	if s2 == nil {
		t.Fatal("1002 did not answer")
	}
	expectHears(t, "1001", s1, toneOther)
	expectHears(t, "1002", s2, toneAgent)
	if err := s2.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "1001", s1)
}

func TestMalformedSIPDoesNotHurt(t *testing.T) {
	e := start(t, testConfig(t))
	junk := []string{
		"garbage\r\n\r\n",
		"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060\r\n\r\n",
		"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@x>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\nv=0",
		"SIP/2.0 200 OK\r\n\r\n",
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:1;branch=z9hG4bKx\r\nCSeq: abc REGISTER\r\n\r\n",
		strings.Repeat("A", 5000),
	}
	u, err := net.Dial("udp", e.udp())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, j := range junk {
		_, _ = u.Write([]byte(j))
	}
	tc, err := net.Dial("tcp", e.tcp())
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range junk {
		_, _ = tc.Write([]byte(j))
	}
	tc.Close()
	// A trunk INVITE whose SDP is nonsense gets a 4xx, not a crash.
	if code := rawInvite(t, e.udp(), "v=0\r\nm=audio banana RTP/AVP 0\r\n"); code < 400 || code >= 500 {
		t.Fatalf("INVITE with broken SDP answered %d, want 4xx", code)
	}
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cs, _ := answered(t, e, agent)
	_ = cs.Hangup(ctx(t))
}

func TestMetricsAndHealth(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cs, _ := answered(t, e, agent)
	_ = cs.Hangup(ctx(t))
	waitActive(t, e, 0)
	body := get(t, "http://"+e.app.HTTPAddr+"/metrics")
	for _, want := range []string{
		"earshot_calls_active 0", "earshot_sip_dialogs 0", `earshot_calls_total{outcome="caller_hangup"} 1`, "earshot_registrations 1",
		`earshot_sip_requests_received_total{method="INVITE"}`, `earshot_sip_responses_sent_total{code="200"}`,
		"earshot_call_setup_seconds_count 1", `earshot_rtp_packets_relayed_total{direction="to_callee"}`,
		`earshot_rtp_packets_relayed_total{direction="to_caller"}`, `earshot_rtp_dropped_total{reason="source"}`,
		"earshot_rtp_ports_in_use 0", "earshot_rtp_ports_kept 4", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if get(t, "http://"+e.app.HTTPAddr+"/healthz") != "ok\n" || get(t, "http://"+e.app.HTTPAddr+"/readyz") != "ready\n" {
		t.Error("health endpoints")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func waitActive(t *testing.T, e *env, n int) {
	t.Helper()
	waitFor(t, "active calls", func() bool { return e.app.SIP.ActiveCalls() == n })
}

// answeredCalls waits until the live call table holds n calls, every one
// answered (a phone's 200 reaches earshot a moment after the phone sent
// it), and returns them.
func answeredCalls(t *testing.T, e *env, n int) []b2bua.CallSnapshot {
	t.Helper()
	var calls []b2bua.CallSnapshot
	waitFor(t, "answered calls", func() bool {
		calls = e.app.SIP.Calls()
		for _, c := range calls {
			if c.State != b2bua.StateAnswered {
				return false
			}
		}
		return len(calls) == n
	})
	return calls
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawInvite sends a hand-written INVITE from the trunk address and returns
// the final status code.
func rawInvite(t *testing.T, server, body string) int {
	t.Helper()
	res := rawResponses(t, server, "", body, nil)
	return status(res[len(res)-1])
}
