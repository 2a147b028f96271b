package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// toneConfirm is the confirmation tone of a feature code.
const toneConfirm = 880.0

// featureCall dials a confirmed feature code from p and returns the Reason
// of earshot's BYE once the confirmation call has ended.
func featureCall(t *testing.T, p *phone.Phone, code string) string {
	t.Helper()
	s, err := p.Call(ctx(t), code)
	if err != nil {
		t.Fatalf("%s: %v", code, err)
	}
	expectHears(t, code+" confirmation", s, toneConfirm)
	waitEnded(t, code+" confirmation", s)
	return byeReason(p)
}

// expectMessage waits for the next MESSAGE on p and checks that its text
// contains every part.
func expectMessage(t *testing.T, who string, p *phone.Phone, parts ...string) phone.Message {
	t.Helper()
	m, ok := p.NextMessage(5 * time.Second)
	if !ok {
		t.Fatalf("%s: no MESSAGE (want %q)", who, parts)
	}
	for _, part := range parts {
		if !strings.Contains(m.Text, part) {
			t.Fatalf("%s: MESSAGE %q does not say %q", who, m.Text, part)
		}
	}
	if m.ContentType != "text/plain;charset=utf-8" || !strings.HasPrefix(m.From, "sip:earshot@") {
		t.Fatalf("%s: MESSAGE from %s of type %q", who, m.From, m.ContentType)
	}
	return m
}

// helpOf waits until the call's latest help request has status and
// returns it.
func helpOf(t *testing.T, e *env, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	var last []any
	for time.Now().Before(deadline) {
		_, body := api(t, e, "demo-2001", "GET", "/help-requests", nil)
		last, _ = body["help_requests"].([]any)
		if len(last) > 0 {
			if h := last[len(last)-1].(map[string]any); h["status"] == status {
				return h
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no help request %s: %v", status, last)
	return nil
}

// TestHelpByPhone is help for those who work from a softphone only: the
// agent on a call dials *9 from a second line; the assigned supervisor's
// phone gets a MESSAGE saying what to dial; the supervisor dials *1 + the
// agent, which accepts the request (in progress, help provided by the
// supervisor) and lets it hear both parties; the agent is told by MESSAGE
// and closes the request with *0.
func TestHelpByPhone(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)

	if r := featureCall(t, sc.agentPhone, "*9"); !strings.Contains(r, "Help Requested") {
		t.Fatalf("*9 BYE Reason %q", r)
	}
	expectMessage(t, "supervisor", sp, "Agent 1001 (Agent One) asks for help on the call with 5551234", "Dial *11001 to listen")
	h := helpOf(t, e, "open")
	if h["agent"] != "1001" {
		t.Fatalf("help request %v", h)
	}
	// One request per call at a time.
	if _, code := dial(t, sc.agentPhone, "*9"); code != 403 {
		t.Fatalf("second *9: %d, want 403", code)
	}

	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("supervisor dials *11001: %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	sc.expect("listen after help", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, sCust, sAgt, sSup)
	h = helpOf(t, e, "in_progress")
	if h["help_provided_by"] != "2001" {
		t.Fatalf("accepted by dialling: %v", h)
	}
	expectMessage(t, "agent", sc.agentPhone, "Supervisor 2001 (Supervisor) is helping you")
	_, audit := api(t, e, "demo-9000", "GET", "/audit?action=help_request.accepted", nil)
	if recs, _ := audit["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["via"] != "feature_code" {
		t.Fatalf("accept audit: %v", audit)
	}

	if r := featureCall(t, sc.agentPhone, "*0"); !strings.Contains(r, "Help Request Closed") {
		t.Fatalf("*0 BYE Reason %q", r)
	}
	if h = helpOf(t, e, "closed"); h["ended_by"] != "1001" {
		t.Fatalf("closed: %v", h)
	}
	expectMessage(t, "supervisor", sp, "closed by the agent")
	if _, code := dial(t, sc.agentPhone, "*0"); code != 404 {
		t.Fatalf("*0 with nothing open: %d, want 404", code)
	}
	_ = ss.Hangup(ctx(t))
	waitEnded(t, "supervisor", ss)
}

// TestHelpByPhoneCanceled: a request the agent ends before anyone accepts
// it is canceled, and the assigned supervisor is told; help codes off a
// call or from a supervisor are refused with a status that says why.
func TestHelpByPhoneCanceled(t *testing.T) {
	e := start(t, testConfig(t))
	sp := e.agent("2001", "127.0.0.15", sSup)
	lone := e.agent("1002", "127.0.0.16", toneOther)
	if _, code := dial(t, lone, "*9"); code != 480 {
		t.Fatalf("*9 without a call: %d, want 480", code)
	}
	if _, code := dial(t, sp, "*9"); code != 403 {
		t.Fatalf("*9 by a supervisor: %d, want 403", code)
	}

	sc := newSupCall(t, e, callOpts{})
	if r := featureCall(t, sc.agentPhone, "*9"); !strings.Contains(r, "Help Requested") {
		t.Fatalf("*9 BYE Reason %q", r)
	}
	expectMessage(t, "supervisor", sp, "asks for help")
	if r := featureCall(t, sc.agentPhone, "*0"); !strings.Contains(r, "Help Request Canceled") {
		t.Fatalf("*0 BYE Reason %q", r)
	}
	helpOf(t, e, "canceled")
	expectMessage(t, "supervisor", sp, "Agent 1001 (Agent One) canceled the help request")
}

// TestMessageNoteAndFromPhone: a note written through the API reaches the
// agent's phone as a MESSAGE; a MESSAGE a phone sends to earshot is
// answered 200 once its user authenticates (and not delivered), and 403
// with a wrong password.
func TestMessageNoteAndFromPhone(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	_, calls := api(t, e, "demo-2001", "GET", "/calls", nil)
	list, _ := calls["calls"].([]any)
	if len(list) != 1 {
		t.Fatalf("calls %v", calls)
	}
	callID, _ := list[0].(map[string]any)["id"].(string)
	if code, n := api(t, e, "demo-2001", "POST", "/calls/"+callID+"/notes", map[string]any{"text": "Offer the 10 % discount."}); code != 201 {
		t.Fatalf("note: %d %v", code, n)
	}
	expectMessage(t, "agent", sc.agentPhone, "Note from 2001 (Supervisor): Offer the 10 % discount.")

	if code, err := sc.agentPhone.SendMessage(ctx(t), "2001", "thanks"); err != nil || code != 200 {
		t.Fatalf("MESSAGE from the agent's phone: %d %v", code, err)
	}
	sp := e.agent("2001", "127.0.0.15", sSup)
	if _, ok := sp.NextMessage(300 * time.Millisecond); ok {
		t.Fatal("a MESSAGE from a phone was delivered")
	}
	intruder := e.phone(phone.Config{IP: "127.0.0.17", User: "1002", Password: "wrong"})
	if code, err := intruder.SendMessage(ctx(t), "2001", "hi"); err != nil || code != 403 {
		t.Fatalf("MESSAGE with a wrong password: %d %v, want 403", code, err)
	}
	// The note's MESSAGE is counted once the phone's 200 is back.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st := e.app.SIP.Stats()
		if st.NotifySent >= 1 && st.NotifyFailed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications counted: sent %d failed %d", st.NotifySent, st.NotifyFailed)
		}
	}
}
