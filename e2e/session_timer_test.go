package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
	"github.com/emiago/sipgo/sip"
)

// calleeTimerCall has the customer call an agent that answers with the
// given session-timer headers, and returns both sessions and the agent.
func calleeTimerCall(t *testing.T, e *env, hdrs ...sip.Header) (cs, as *phone.Session, agent *phone.Phone, invite *sip.Request) {
	t.Helper()
	agent = e.agent("1001", "127.0.0.3", toneAgent)
	type answered struct {
		req *sip.Request
		s   *phone.Session
	}
	got := make(chan answered, 1)
	go func() {
		defer close(got)
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		s, err := in.AnswerWith(hdrs...)
		if err != nil {
			return
		}
		got <- answered{in.Req, s}
	}()
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	a, ok := <-got
	if !ok {
		t.Fatal("agent did not answer")
	}
	return cs, a.s, agent, a.req
}

// TestCalleeSessionRefreshedByEarshot: earshot asks the agent for its
// session interval; the agent makes earshot the refresher at the RFC 4028
// minimum of 90 s, and earshot refreshes with UPDATE at half of it while
// the call keeps its audio.
func TestCalleeSessionRefreshedByEarshot(t *testing.T) {
	t.Parallel()
	e := start(t, testConfig(t))
	cs, as, agent, invite := calleeTimerCall(t, e,
		sip.NewHeader("Session-Expires", "90;refresher=uac"), sip.NewHeader("Require", "timer"),
		sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"))
	if se := invite.GetHeader("Session-Expires"); se == nil || se.Value() != "1800" {
		t.Fatalf("INVITE to the agent has Session-Expires %v, want the configured 1800", se)
	}
	if s := invite.GetHeader("Supported"); s == nil || !strings.Contains(s.Value(), "timer") {
		t.Fatalf("INVITE to the agent does not say Supported: timer")
	}
	deadline := time.Now().Add(60 * time.Second)
	var refresh *sip.Request
	for refresh == nil && time.Now().Before(deadline) {
		for _, r := range agent.InDialog() {
			if r.Method == sip.UPDATE {
				refresh = r
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if refresh == nil {
		t.Fatal("no session refresh to the agent within 60 s")
	}
	if se := refresh.GetHeader("Session-Expires"); se == nil || se.Value() != "90;refresher=uac" {
		t.Fatalf("refresh carries Session-Expires %v, want 90;refresher=uac", se)
	}
	if len(refresh.Body()) != 0 {
		t.Fatal("refresh UPDATE carries SDP")
	}
	as.RTP.Clear()
	cs.RTP.Clear()
	expectHears(t, "agent after the refresh", as, toneCustomer)
	expectHears(t, "customer after the refresh", cs, toneAgent)
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "agent", as)
}

// TestCalleeSessionExpires: the agent takes the refresher role and never
// refreshes; earshot ends the call before the session would expire.
func TestCalleeSessionExpires(t *testing.T) {
	t.Parallel()
	e := start(t, testConfig(t))
	began := time.Now()
	cs, as, _, _ := calleeTimerCall(t, e,
		sip.NewHeader("Session-Expires", "90;refresher=uas"), sip.NewHeader("Require", "timer"))
	select {
	case <-cs.Ended():
	case <-time.After(80 * time.Second):
		t.Fatal("call did not end after the agent failed to refresh")
	}
	if took := time.Since(began); took < 50*time.Second {
		t.Fatalf("call ended after %v, long before the session interval", took)
	}
	waitEnded(t, "agent", as)
	waitActive(t, e, 0)
	if n := e.app.SIP.Stats().CallsByOutcome["session_expired"]; n != 1 {
		t.Fatalf("outcomes %v", e.app.SIP.Stats().CallsByOutcome)
	}
}

// TestCalleeAsksForLongerSessionInterval: a carrier answers the outbound
// INVITE with 422 and Min-SE above earshot's interval; earshot asks again
// with that interval and the call connects.
func TestCalleeAsksForLongerSessionInterval(t *testing.T) {
	e, carrier := carrierEnv(t, "", "")
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	type attempt struct {
		se string
		s  *phone.Session
	}
	got := make(chan attempt, 2)
	go func() {
		defer close(got)
		in, err := carrier.Next(ctx(t))
		if err != nil {
			return
		}
		got <- attempt{se: in.Req.GetHeader("Session-Expires").Value()}
		_ = in.RejectWith(422, "Session Interval Too Small", sip.NewHeader("Min-SE", "3600"))
		if in, err = carrier.Next(ctx(t)); err != nil {
			return
		}
		a := attempt{}
		if h := in.Req.GetHeader("Session-Expires"); h != nil {
			a.se = h.Value()
		}
		a.s, _ = in.Answer()
		got <- a
	}()
	as, err := agent.Call(ctx(t), "0049301234567")
	if err != nil {
		t.Fatalf("outbound call: %v", err)
	}
	first, second := <-got, <-got
	if first.se != "1800" || second.se != "3600" || second.s == nil {
		t.Fatalf("Session-Expires %q then %q (answered %v), want 1800 then 3600", first.se, second.se, second.s != nil)
	}
	expectHears(t, "carrier", second.s, toneAgent)
	if err := as.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "carrier", second.s)
}
