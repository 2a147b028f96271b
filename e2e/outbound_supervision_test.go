package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/earshot/earshot/internal/phone"
)

// A call an agent placed through the trunk is supervised like any other:
// the call table names the agent, a supervisor listens, whispers to the
// agent (the customer — here the carrier's phone — never hears it) and
// barges, with both parties' streams continuous; then intercepts through
// the API, taking the place of the agent who placed the call.
func TestSuperviseOutboundCall(t *testing.T) {
	const toneSup = 2100.0
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
	calls := answeredCalls(t, e, 1)
	if len(calls[0].Agents) != 1 || calls[0].Agents[0] != "1001" {
		t.Fatalf("the outbound call does not name its agent: %+v", calls)
	}
	// The agent sees its own outbound call in the API, asks for help on
	// it, and a supervisor's note reaches it.
	if code, body := api(t, e, "demo-1001", "GET", "/calls/"+calls[0].ID, nil); code != 200 {
		t.Fatalf("agent's own outbound call: %d %v", code, body)
	}
	code, hr := api(t, e, "demo-1001", "POST", "/help-requests", map[string]any{"call_id": calls[0].ID, "reason": "customer disputes the bill"})
	if code != 201 || hr["status"] != "open" || hr["agent"] != "1001" {
		t.Fatalf("help request on an outbound call: %d %v", code, hr)
	}
	if code, acc := api(t, e, "demo-2001", "POST", "/help-requests/"+hr["id"].(string)+"/accept", nil); code != 200 ||
		acc["help_request"].(map[string]any)["help_provided_by"] != "2001" {
		t.Fatalf("accept on an outbound call: %d %v", code, acc)
	}
	if code, n := api(t, e, "demo-2001", "POST", "/calls/"+calls[0].ID+"/notes", map[string]any{"text": "Offer the payment plan."}); code != 201 {
		t.Fatalf("note on an outbound call: %d %v", code, n)
	}
	if _, notes := api(t, e, "demo-1001", "GET", "/notes?call_id="+calls[0].ID, nil); len(notes["notes"].([]any)) != 1 ||
		notes["notes"].([]any)[0].(map[string]any)["text"] != "Offer the payment plan." {
		t.Fatalf("the agent's notes on its outbound call: %v", notes)
	}

	events := sse(t, e, "demo-2001")
	sup := e.agent("2001", "127.0.0.5", toneSup)
	ss, code := dial(t, sup, "*11001")
	if code != 200 {
		t.Fatalf("*11001 on an outbound call: %d", code)
	}
	var started struct {
		Data struct {
			Supervision struct {
				ID    string `json:"id"`
				Agent string `json:"agent"`
			} `json:"supervision"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(waitEvent(t, events, "supervision.started")), &started); err != nil ||
		started.Data.Supervision.Agent != "1001" {
		t.Fatalf("supervision.started: %+v %v", started, err)
	}
	expectHears(t, "supervisor hears the agent", ss, toneAgent)
	expectHears(t, "supervisor hears the customer", ss, toneCustomer)
	expectSilent(t, "listen: the customer does not hear the supervisor", cs, toneSup)
	expectSilent(t, "listen: the agent does not hear the supervisor", as, toneSup)

	ss.RTP.SendDigit('2')
	expectHears(t, "whisper: the agent hears the supervisor", as, toneSup)
	expectSilent(t, "whisper: the customer does not hear the supervisor", cs, toneSup)
	expectHears(t, "whisper: the agent still hears the customer", as, toneCustomer)

	ss.RTP.SendDigit('3')
	expectHears(t, "barge: the customer hears the supervisor", cs, toneSup)

	continuity(t, party{"customer", cs, toneCustomer})
	continuity(t, party{"agent", as, toneAgent})

	// Intercept: the supervisor takes the place of the agent who placed
	// the call; the customer's dialog and stream go on unchanged.
	cs.RTP.ResetContinuity()
	if code, body := api(t, e, "demo-2001", "PATCH", "/supervisions/"+started.Data.Supervision.ID, map[string]any{"mode": "intercept"}); code != 200 {
		t.Fatalf("API intercept of an outbound call: %d %v, want 200", code, body)
	}
	waitEnded(t, "the agent who placed the call", as)
	cs.RTP.Clear()
	ss.RTP.Clear()
	expectHears(t, "intercept: the customer hears the supervisor", cs, toneSup)
	expectSilent(t, "intercept: the customer no longer hears the agent", cs, toneAgent)
	expectHears(t, "intercept: the supervisor hears the customer", ss, toneCustomer)
	continuity(t, party{"customer", cs, toneCustomer})
	calls = e.app.SIP.Calls()
	if len(calls) != 1 || strings.Join(calls[0].Agents, ",") != "2001" || calls[0].Caller.Number != "2001" {
		t.Fatalf("after the intercept the call names %+v, want the supervisor as caller and agent", calls)
	}
	if code, body := api(t, e, "demo-2001", "PATCH", "/supervisions/"+started.Data.Supervision.ID, map[string]any{"mode": "listen"}); code != 409 {
		t.Fatalf("mode change after the intercept: %d %v, want 409", code, body)
	}
	// The supervisor, now the calling party, hangs up: the customer gets BYE.
	if err := ss.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "the customer", cs)
	waitActive(t, e, 0)
}

// Intercept of a call the agent placed, by a supervisor who dials in
// (*4 + the agent who placed an internal call) and by one earshot rings
// through the API (an outbound call, whose agent is the one who placed
// it): that agent gets BYE, the supervisor talks with the other party,
// whose stream stays continuous, and the call names the supervisor.
func TestInterceptCallTheAgentPlaced(t *testing.T) {
	const toneSup = 2100.0
	for _, via := range []string{"feature code", "api"} {
		t.Run(via, func(t *testing.T) {
			cfg := testConfig(t)
			carrier := carrierPhone(t, cfg, toneOther)
			e := start(t, cfg)
			a1 := e.agent("1001", "127.0.0.3", toneAgent)
			sup := e.agent("2001", "127.0.0.5", toneSup)
			var other *phone.Phone
			number := "0049301234567"
			if via == "feature code" {
				other, number = e.agent("1002", "127.0.0.4", toneOther), "1002"
			} else {
				other = carrier
			}
			ch := answerNext(t, other)
			s1, err := a1.Call(ctx(t), number)
			if err != nil {
				t.Fatal(err)
			}
			s2 := <-ch
			if s2 == nil {
				t.Fatal("the called party did not answer")
			}
			expectHears(t, "the called party hears 1001", s2, toneAgent)
			s2.RTP.ResetContinuity()
			var ss *phone.Session
			if via == "api" {
				calls := answeredCalls(t, e, 1)
				rung := answerNext(t, sup)
				if code, body := api(t, e, "demo-2001", "POST", "/calls/"+calls[0].ID+"/supervisions", map[string]any{"mode": "intercept"}); code != 201 {
					t.Fatalf("API intercept: %d %v", code, body)
				}
				if ss = <-rung; ss == nil {
					t.Fatal("the supervisor's phone did not get earshot's call")
				}
			} else {
				var code int
				if ss, code = dial(t, sup, "*41001"); code != 200 {
					t.Fatalf("*41001: %d", code)
				}
			}
			waitEnded(t, "1001, who placed the call", s1)
			s2.RTP.Clear()
			expectHears(t, "the called party hears the supervisor", s2, toneSup)
			expectSilent(t, "the called party no longer hears 1001", s2, toneAgent)
			expectHears(t, "the supervisor hears the called party", ss, toneOther)
			continuity(t, party{"the called party", s2, toneOther})
			calls := e.app.SIP.Calls()
			if len(calls) != 1 || calls[0].Caller.Number != "2001" || calls[0].Agents[0] != "2001" {
				t.Fatalf("after the intercept the call is %+v, want 2001 as caller and agent", calls)
			}
			// The called party hangs up: the supervisor gets BYE.
			if err := s2.Hangup(ctx(t)); err != nil {
				t.Fatal(err)
			}
			waitEnded(t, "the supervisor", ss)
			waitActive(t, e, 0)
		})
	}
}

// An internal call (1001 dials 1002) names both agents; a supervisor
// whispers to the agent it dialled (1002), whom only that agent hears; a
// second supervision for the other agent of the same call is refused.
func TestSuperviseInternalCall(t *testing.T) {
	const toneSup = 2100.0
	e := start(t, testConfig(t))
	a1 := e.agent("1001", "127.0.0.3", toneAgent)
	a2 := e.agent("1002", "127.0.0.4", toneOther)
	ch := answerNext(t, a2)
	s1, err := a1.Call(ctx(t), "1002")
	if err != nil {
		t.Fatal(err)
	}
	s2 := <-ch
	if s2 == nil {
		t.Fatal("1002 did not answer")
	}
	calls := answeredCalls(t, e, 1)
	if len(calls[0].Agents) != 2 || calls[0].Agents[0] != "1001" || calls[0].Agents[1] != "1002" {
		t.Fatalf("the internal call does not name both agents: %+v", calls)
	}
	sup := e.agent("2001", "127.0.0.5", toneSup)
	ss, code := dial(t, sup, "*21002")
	if code != 200 {
		t.Fatalf("*21002: %d", code)
	}
	expectHears(t, "1002 hears the whisper", s2, toneSup)
	expectSilent(t, "1001 does not", s1, toneSup)
	expectHears(t, "the supervisor hears 1001", ss, toneAgent)
	expectHears(t, "the supervisor hears 1002", ss, toneOther)
	admin := e.agent("9000", "127.0.0.6", toneSup)
	if _, code := dial(t, admin, "*11001"); code != 486 {
		t.Fatalf("a supervision of the other agent of the same call: %d, want 486", code)
	}
	continuity(t, party{"1001", s1, toneAgent})
	continuity(t, party{"1002", s2, toneOther})
	_ = s1.Hangup(ctx(t))
	waitActive(t, e, 0)
}

// Outbound identity: the carrier sees the group's caller ID (From and
// P-Asserted-Identity) on a call its agent places, the trunk's for a user
// of no group with one, and the extension when neither is configured.
func TestOutboundCallerID(t *testing.T) {
	for _, tc := range []struct {
		name, trunk, group, ext, want string
	}{
		{"group's", "+15550000", "+15550100", "1001", "+15550100"},
		{"trunk's", "+15550000", "", "1001", "+15550000"},
		{"none", "", "", "1001", "1001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			carrier := carrierPhone(t, cfg, toneCustomer)
			cfg.Tenants[0].Trunks[0].CallerID = tc.trunk
			cfg.Tenants[0].Groups[0].CallerID = tc.group
			e := start(t, cfg)
			agent := e.agent(tc.ext, "127.0.0.3", toneAgent)
			got := make(chan *phone.Incoming, 1)
			go func() {
				in, err := carrier.Next(ctx(t))
				if err != nil {
					close(got)
					return
				}
				got <- in
				_, _ = in.Answer()
			}()
			as, err := agent.Call(ctx(t), "0049301234567")
			if err != nil {
				t.Fatal(err)
			}
			in := <-got
			if in == nil {
				t.Fatal("the carrier got no INVITE")
			}
			from := in.Req.From().Address.User
			pai := in.Req.GetHeader("P-Asserted-Identity")
			if from != tc.want || (tc.want != tc.ext && (pai == nil || !strings.Contains(pai.Value(), "sip:"+tc.want+"@"))) ||
				(tc.want == tc.ext && pai != nil) {
				t.Fatalf("carrier sees From %q, P-Asserted-Identity %v; want %q", from, pai, tc.want)
			}
			_ = as.Hangup(ctx(t))
			waitActive(t, e, 0)
		})
	}
}
