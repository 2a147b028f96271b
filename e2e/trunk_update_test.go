package e2e

import (
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// updatingPhone is a phone that answers UPDATE offers with SDP, as RFC 3311
// requires; e.phone's phones answer a bare 200.
func (e *env) updatingPhone(cfg phone.Config) *phone.Phone {
	e.t.Helper()
	cfg.Server = e.udp()
	p, err := phone.NewWith(cfg, phone.Options{AnswerUpdate: true})
	if err != nil {
		e.t.Fatalf("phone %s: %v", cfg.User, err)
	}
	e.t.Cleanup(p.Close)
	return p
}

// quiet waits until s has received no RTP for 200 ms: what was in flight
// has arrived and nothing more comes.
func quiet(t *testing.T, who string, s *phone.Session) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	last, since := s.RTP.Received(), time.Now()
	for time.Since(since) < 200*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("%s keeps receiving RTP", who)
		}
		time.Sleep(20 * time.Millisecond)
		if n := s.RTP.Received(); n != last {
			last, since = n, time.Now()
		}
	}
}

// TestHoldAndResumeByUpdate holds and resumes an answered trunk call with
// UPDATE offers (RFC 3311) from the customer, then has the agent send one
// too: earshot forwards each offer to the other leg and returns its answer,
// and the audio comes back both ways after each.
func TestHoldAndResumeByUpdate(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.updatingPhone(phone.Config{IP: "127.0.0.3", User: "1001", Password: "demo", Tone: toneAgent})
	if code, err := agent.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register: %d %v", code, err)
	}
	cust := e.updatingPhone(phone.Config{IP: "127.0.0.2", User: "5551234", Name: "Customer", Tone: toneCustomer})
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
	agentRequests := agent.Requests()

	// Hold: the customer offers sendonly and stops sending.
	if code, err := cs.Update(ctx(t), "sendonly"); err != nil || code != 200 {
		t.Fatalf("hold by UPDATE: %d %v", code, err)
	}
	if got := agent.Requests() - agentRequests; got != 1 {
		t.Errorf("the agent received %d requests for the customer's UPDATE, want 1", got)
	}
	quiet(t, "agent during hold", as)
	as.RTP.Clear()
	cs.RTP.Clear()
	expectHears(t, "customer during hold", cs, toneAgent)
	expectSilent(t, "agent during hold", as, toneCustomer)

	// Resume.
	if code, err := cs.Update(ctx(t), "sendrecv"); err != nil || code != 200 {
		t.Fatalf("resume by UPDATE: %d %v", code, err)
	}
	expectHears(t, "agent after resume", as, toneCustomer)
	cs.RTP.Clear()
	expectHears(t, "customer after resume", cs, toneAgent)

	// An offer from the agent's side travels the other way.
	if code, err := as.Update(ctx(t), "sendrecv"); err != nil || code != 200 {
		t.Fatalf("UPDATE from the agent: %d %v", code, err)
	}
	as.RTP.Clear()
	cs.RTP.Clear()
	expectHears(t, "agent after its UPDATE", as, toneCustomer)
	expectHears(t, "customer after the agent's UPDATE", cs, toneAgent)

	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "agent", as)
	waitActive(t, e, 0)
}
