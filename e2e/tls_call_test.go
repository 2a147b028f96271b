package e2e

import (
	"testing"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
	"github.com/earshot/earshot/internal/testcert"
)

// TestAgentOverTLS registers an agent over TLS, rings it with a customer
// call from the trunk (UDP), and checks that the INVITE reached it over
// TLS, that both hear each other, and that the agent's BYE over TLS ends
// the customer's call.
func TestAgentOverTLS(t *testing.T) {
	cfg := testConfig(t)
	certFile, keyFile, roots := testcert.SelfSigned(t, t.TempDir())
	cfg.SIP.Listen = append(cfg.SIP.Listen, config.Listener{Transport: "tls", Address: "127.0.0.1:0",
		CertFile: certFile, KeyFile: keyFile})
	e := start(t, cfg)
	tlsAddr := e.app.SIPAddrs[2]

	agent, err := phone.NewTLS(phone.Config{IP: "127.0.0.3", User: "1001", Password: "demo", Tone: toneAgent,
		Server: tlsAddr}, roots, phone.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)
	if code, err := agent.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register over TLS: code %d err %v", code, err)
	}

	type ringing struct {
		via string
		s   *phone.Session
	}
	ch := make(chan ringing, 1)
	go func() {
		defer close(ch)
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		via := ""
		if v := in.Req.Via(); v != nil {
			via = v.Transport
		}
		_ = in.Ring()
		if s, err := in.Answer(); err == nil {
			ch <- ringing{via, s}
		}
	}()
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("customer call: %v", err)
	}
	r, ok := <-ch
	if !ok {
		t.Fatal("TLS agent did not answer")
	}
	if r.via != "TLS" {
		t.Errorf("INVITE reached the agent with Via transport %q, want TLS", r.via)
	}
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent over TLS", r.s, toneCustomer)
	if err := r.s.Hangup(ctx(t)); err != nil {
		t.Fatalf("agent BYE over TLS: %v", err)
	}
	waitEnded(t, "customer", cs)
	waitActive(t, e, 0)
}
