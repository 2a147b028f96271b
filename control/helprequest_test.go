package control

import (
	"fmt"
	"strings"
	"testing"

	"github.com/earshot/earshot/b2bua"
)

func TestHelpRequestLifecycle(t *testing.T) {
	f := newFixture(t)
	h := f.openHelp()
	if h.Status != HelpOpen || h.Agent != "1001" || h.CallID != "c1" || h.Tenant != "acme" ||
		len(h.AssignedTo) != 1 || h.AssignedTo[0] != "2001" || h.Reason != "angry customer" {
		t.Fatalf("opened %+v", h)
	}
	var cv CallView
	f.must(200, "GET", "/api/v1/calls/c1", tokSup, "").decode(t, &cv)
	if !cv.HelpRequested {
		t.Error("help_requested false while the request is open")
	}
	f.do("POST", "/api/v1/help-requests", tokAgent, `{"call_id":"c1"}`).problem(t, 409, "")

	var res HelpRequestResult
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/accept", tokSup, "").decode(t, &res)
	if res.HelpRequest.Status != HelpInProgress || res.HelpRequest.HelpProvidedBy != "2001" || res.HelpRequest.AcceptedAt.IsZero() {
		t.Fatalf("accepted %+v", res.HelpRequest)
	}
	f.must(200, "GET", "/api/v1/calls/c1", tokSup, "").decode(t, &cv)
	if cv.HelpRequested {
		t.Error("help_requested still true once accepted")
	}
	f.do("POST", "/api/v1/help-requests/"+h.ID+"/accept", tokAdmin, "").problem(t, 409, "")
	f.do("POST", "/api/v1/help-requests/"+h.ID+"/cancel", tokAgent, "").problem(t, 409, "")
	// Another agent of the tenant does not see it at all.
	f.do("POST", "/api/v1/help-requests/"+h.ID+"/close", tokAgent2, "").problem(t, 404, "")

	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/close", tokAgent, "").decode(t, &res)
	if res.HelpRequest.Status != HelpClosed || res.HelpRequest.CloseReason != CloseByUser ||
		res.HelpRequest.EndedBy != "1001" || !strings.Contains(res.Confirmation, "closed") {
		t.Fatalf("closed %+v %q", res.HelpRequest, res.Confirmation)
	}
	f.do("POST", "/api/v1/help-requests/"+h.ID+"/close", tokAgent, "").problem(t, 409, "")

	// A new request on the same call, then canceled before acceptance.
	h2 := f.openHelp()
	if h2.ID == h.ID {
		t.Fatal("same id twice")
	}
	f.do("POST", "/api/v1/help-requests/"+h2.ID+"/cancel", tokSup, "").problem(t, 403, "")
	f.must(200, "POST", "/api/v1/help-requests/"+h2.ID+"/cancel", tokAgent, "").decode(t, &res)
	if res.HelpRequest.Status != HelpCanceled {
		t.Fatalf("canceled %+v", res.HelpRequest)
	}
	f.do("POST", "/api/v1/help-requests/"+h2.ID+"/accept", tokSup, "").problem(t, 409, "")

	var list HelpRequestList
	f.must(200, "GET", "/api/v1/help-requests?status=canceled", tokSup, "").decode(t, &list)
	if len(list.HelpRequests) != 1 || list.HelpRequests[0].ID != h2.ID {
		t.Fatalf("canceled list %+v", list)
	}
	f.must(200, "GET", "/api/v1/help-requests", tokAgent, "").decode(t, &list)
	if len(list.HelpRequests) != 2 {
		t.Fatalf("agent's list has %d", len(list.HelpRequests))
	}
	f.must(200, "GET", "/api/v1/help-requests", tokAgent2, "").decode(t, &list)
	if len(list.HelpRequests) != 0 {
		t.Fatalf("another agent sees %+v", list)
	}
	var got HelpRequest
	f.must(200, "GET", "/api/v1/help-requests/"+h.ID, tokAgent, "").decode(t, &got)
	if got.Status != HelpClosed {
		t.Fatalf("get %+v", got)
	}
	f.do("GET", "/api/v1/help-requests/"+h.ID, tokAgent2, "").problem(t, 404, "")
	f.do("GET", "/api/v1/help-requests/nope", tokSup, "").problem(t, 404, "")
	f.do("POST", "/api/v1/help-requests/nope/accept", tokSup, "").problem(t, 404, "")

	st := f.svc.Stats()
	if st.HelpRequests[HelpOpen] != 2 || st.HelpRequests[HelpInProgress] != 1 || st.HelpRequests[HelpClosed] != 1 ||
		st.HelpRequests[HelpCanceled] != 1 || st.HelpOpen != 0 || st.AuditRecords != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestHelpRequestValidation(t *testing.T) {
	f := newFixture(t)
	ringing := call("c9", "acme", "support", "100", "1001", b2bua.StateRinging)
	f.sw.add(ringing)
	cases := []struct {
		name, token, body string
		hdr               map[string]string
		status            int
		field             string
	}{
		{"no call id", tokAgent, `{"reason":"x"}`, nil, 400, "call_id"},
		{"call id not a string", tokAgent, `{"call_id":7}`, nil, 400, "call_id"},
		{"unknown field", tokAgent, `{"call_id":"c1","tenant":"zeta"}`, nil, 400, "tenant"},
		{"reason too long", tokAgent, `{"call_id":"c1","reason":"` + strings.Repeat("x", MaxReasonLength+1) + `"}`, nil, 400, "reason"},
		{"reason control char", tokAgent, `{"call_id":"c1","reason":"a\u0007b"}`, nil, 400, "reason"},
		{"malformed", tokAgent, `{"call_id":`, nil, 400, "body"},
		{"two objects", tokAgent, `{"call_id":"c1"}{}`, nil, 400, "body"},
		{"array", tokAgent, `[1]`, nil, 400, "body"},
		{"empty", tokAgent, ``, nil, 400, "body"},
		{"too large", tokAgent, `{"call_id":"c1","reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, nil, 413, ""},
		{"not json", tokAgent, `call_id=c1`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, ""},
		{"no content type", tokAgent, `{"call_id":"c1"}`, map[string]string{"Content-Type": ""}, 415, ""},
		{"key in another case", tokAgent, `{"CALL_ID":"c1"}`, nil, 400, "CALL_ID"},
		{"key twice", tokAgent, `{"call_id":"c1","call_id":"c2"}`, nil, 400, "call_id"},
		{"supervisor", tokSup, `{"call_id":"c1"}`, nil, 403, ""},
		{"someone else's call", tokAgent, `{"call_id":"c2"}`, nil, 404, ""},
		{"other tenant's call", tokAgent, `{"call_id":"z1"}`, nil, 404, ""},
		{"no such call", tokAgent, `{"call_id":"nope"}`, nil, 404, ""},
		{"ringing call", tokAgent, `{"call_id":"c9"}`, nil, 409, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			f.doHdr("POST", "/api/v1/help-requests", tc.token, tc.body, tc.hdr).problem(t, tc.status, tc.field)
		})
	}
	f.t = t
	f.do("GET", "/api/v1/help-requests?status=pending", tokSup, "").problem(t, 400, "status")
	if n := f.svc.Stats().AuditRecords; n != 0 {
		t.Errorf("%d audit records for refused requests", n)
	}
}

func TestCallEndClosesHelpRequest(t *testing.T) {
	f := newFixture(t)
	h := f.openHelp()
	c, _ := f.sw.Call("c1")
	c.State, c.EndedAt, c.EndReason = b2bua.StateEnded, t0, b2bua.EndCallerHangup
	f.svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallEnded, Time: t0, Call: c})
	f.svc.flush()
	var got HelpRequest
	f.must(200, "GET", "/api/v1/help-requests/"+h.ID, tokSup, "").decode(t, &got)
	if got.Status != HelpClosed || got.CloseReason != CloseCallEnded || got.EndedBy != systemActor {
		t.Fatalf("after call end %+v", got)
	}
	var page AuditPage
	f.must(200, "GET", "/api/v1/audit?help_request_id="+h.ID, tokSup, "").decode(t, &page)
	if len(page.Records) != 2 || page.Records[1].Actor != systemActor || page.Records[1].Detail != CloseCallEnded {
		t.Fatalf("audit %+v", page.Records)
	}
}

func TestRestartClosesLeftovers(t *testing.T) {
	f := newFixture(t)
	open := f.openHelp()
	f.sw.add(call("c3", "acme", "support", "100", "1002", b2bua.StateAnswered))
	var taken HelpRequest
	f.must(201, "POST", "/api/v1/help-requests", tokAgent2, `{"call_id":"c3"}`).decode(t, &taken)
	f.must(200, "POST", "/api/v1/help-requests/"+taken.ID+"/accept", tokSup, "")
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	for _, id := range []string{open.ID, taken.ID} {
		var got HelpRequest
		f.must(200, "GET", "/api/v1/help-requests/"+id, tokSup, "").decode(t, &got)
		if got.Status != HelpClosed || got.CloseReason != CloseRestart {
			t.Errorf("after restart %+v", got)
		}
	}
	// The call can get a new request: the active index was cleared too.
	f.openHelp()
}

func TestSecondOpenFails(t *testing.T) {
	f := newFixture(t)
	_, err := New(Config{Tenants: testTenants(), DataDir: f.dir, Switchboard: f.sw, OpenTimeout: 50e6})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
}

func TestRequiredConfig(t *testing.T) {
	for i, c := range []Config{
		{DataDir: t.TempDir(), Switchboard: newFakeSwitch()},
		{Tenants: testTenants(), Switchboard: newFakeSwitch()},
		{Tenants: testTenants(), DataDir: t.TempDir()},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("case %d: New accepted an incomplete Config", i)
		}
	}
}

func TestHelpRequestAuditTrail(t *testing.T) {
	f := newFixture(t)
	h := f.openHelp()
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/accept", tokSup, "")
	f.setNow(f.now().Add(1500e6))
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/close", tokAgent, "")
	var page AuditPage
	f.must(200, "GET", "/api/v1/audit?call_id=c1", tokAdmin, "").decode(t, &page)
	want := []string{"1001 agent " + ActionHelpOpened, "2001 supervisor " + ActionHelpAccepted, "1001 agent " + ActionHelpClosed}
	if len(page.Records) != len(want) {
		t.Fatalf("audit %+v", page.Records)
	}
	for i, r := range page.Records {
		if got := fmt.Sprintf("%s %s %s", r.Actor, r.Role, r.Action); got != want[i] || r.HelpRequestID != h.ID ||
			r.Tenant != "acme" || r.Result != ResultOK || r.Time.Location().String() != "UTC" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if !page.Records[2].Time.Equal(t0.Add(1500e6)) {
		t.Errorf("close time %v", page.Records[2].Time)
	}
}
