package e2e

import (
	"testing"
)

func TestInboundCallBothHearEachOther(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cust := e.customer()
	answered := answerNext(t, agent)
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	as := <-answered
	if as == nil {
		t.Fatal("agent did not answer")
	}
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	expectSilent(t, "customer (own voice)", cs, toneCustomer)
	expectSilent(t, "agent (own voice)", as, toneAgent)

	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatalf("bye: %v", err)
	}
	waitEnded(t, "agent", as)
}
