package e2e

import (
	"testing"

	"github.com/earshot/earshot/internal/phone"
)

// A PCMA-only carrier call to a PCMU-only agent phone connects (earshot
// transcodes), both hear each other, and a supervisor listening on PCMU
// hears both; every stream stays continuous.
func TestPCMATrunkToPCMUPhone(t *testing.T) {
	const toneSup = 2100.0
	e := start(t, testConfig(t))
	agent := e.phone(phone.Config{IP: "127.0.0.3", User: "1001", Password: "demo", Tone: toneAgent, Codec: phone.PCMU})
	if code, err := agent.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register: %d %v", code, err)
	}
	got := answerNext(t, agent)
	cust := e.phone(phone.Config{IP: "127.0.0.2", User: "5551234", Tone: toneCustomer, Codec: phone.PCMA})
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("PCMA caller to a PCMU phone: %v", err)
	}
	as := <-got
	if as == nil {
		t.Fatal("the agent did not answer")
	}
	expectHears(t, "PCMA customer hears the PCMU agent", cs, toneAgent)
	expectHears(t, "PCMU agent hears the PCMA customer", as, toneCustomer)
	sup := e.agent("2001", "127.0.0.5", toneSup)
	ss, code := dial(t, sup, "*11001")
	if code != 200 {
		t.Fatalf("*11001: %d", code)
	}
	expectHears(t, "supervisor hears the customer", ss, toneCustomer)
	expectHears(t, "supervisor hears the agent", ss, toneAgent)
	continuity(t, party{"customer", cs, toneCustomer})
	continuity(t, party{"agent", as, toneAgent})
	_ = cs.Hangup(ctx(t))
	waitActive(t, e, 0)
}
