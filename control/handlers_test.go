package control

import (
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

func TestAuth(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/api/v1/calls", "", "")
	r.problem(t, 401, "")
	if r.hdr.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	f.do("GET", "/api/v1/calls", "wrong-token", "").problem(t, 401, "")
	f.do("GET", "/api/v1/calls", tokSup+"x", "").problem(t, 401, "")
	f.doHdr("GET", "/api/v1/calls", "", "", map[string]string{"Authorization": "Basic " + tokSup}).problem(t, 401, "")
	f.must(200, "GET", "/api/v1/calls", tokSup, "")
	f.must(200, "GET", "/api/v1/openapi.json", "", "")
}

func TestUnknownRoutes(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/api/v1/nothing", tokSup, "").problem(t, 404, "")
	r := f.do("PUT", "/api/v1/help-requests", tokSup, "")
	r.problem(t, 405, "")
	if r.hdr.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", r.hdr.Get("Allow"))
	}
	f.do("GET", "/api/v1/supervisions/x", tokSup, "").problem(t, 405, "")
}

func TestCalls(t *testing.T) {
	f := newFixture(t)
	var list CallList
	f.must(200, "GET", "/api/v1/calls", tokSup, "").decode(t, &list)
	if len(list.Calls) != 2 || list.Calls[0].Tenant != "acme" || list.Calls[1].Tenant != "acme" {
		t.Fatalf("supervisor's calls %+v", list.Calls)
	}
	if d := list.Calls[0].DurationSeconds; d != 60 {
		t.Errorf("duration %v", d)
	}
	f.must(200, "GET", "/api/v1/calls?group=sales", tokSup, "").decode(t, &list)
	if len(list.Calls) != 1 || list.Calls[0].ID != "c2" {
		t.Fatalf("group filter %+v", list.Calls)
	}
	f.must(200, "GET", "/api/v1/calls?number=100", tokSup, "").decode(t, &list)
	if len(list.Calls) != 1 || list.Calls[0].ID != "c1" {
		t.Fatalf("number filter %+v", list.Calls)
	}
	f.must(200, "GET", "/api/v1/calls?number=999", tokSup, "").decode(t, &list)
	if len(list.Calls) != 0 {
		t.Fatalf("unknown number %+v", list.Calls)
	}
	f.do("GET", "/api/v1/calls?group=nope", tokSup, "").problem(t, 400, "group")
	f.must(200, "GET", "/api/v1/calls", tokAgent, "").decode(t, &list)
	if len(list.Calls) != 1 || list.Calls[0].ID != "c1" {
		t.Fatalf("agent's calls %+v", list.Calls)
	}
	var cv CallView
	f.must(200, "GET", "/api/v1/calls/c1", tokAgent, "").decode(t, &cv)
	if cv.ID != "c1" || cv.Group != "support" || cv.Caller.Number != "+15550100" || cv.HelpRequested {
		t.Fatalf("call %+v", cv)
	}
	f.do("GET", "/api/v1/calls/c2", tokAgent, "").problem(t, 404, "")
	f.do("GET", "/api/v1/calls/nope", tokSup, "").problem(t, 404, "")
}

func TestSupervisions(t *testing.T) {
	f := newFixture(t)
	r := f.must(201, "POST", "/api/v1/calls/c1/supervisions", tokSup, `{"mode":"whisper"}`)
	var sp b2bua.SupervisionSnapshot
	r.decode(t, &sp)
	if sp.State != b2bua.SupRinging || sp.Mode != b2bua.ModeWhisper || sp.Supervisor != "2001" || r.hdr.Get("Location") != "/api/v1/supervisions/"+sp.ID {
		t.Fatalf("started %+v %v", sp, r.hdr)
	}
	f.do("POST", "/api/v1/calls/c1/supervisions", tokSup, `{}`).problem(t, 400, "mode")
	f.do("POST", "/api/v1/calls/c1/supervisions", tokSup, `{"mode":"spy"}`).problem(t, 400, "mode")
	f.do("POST", "/api/v1/calls/c1/supervisions", tokSup, `{"mode":1}`).problem(t, 400, "mode")
	f.do("POST", "/api/v1/calls/c1/supervisions", tokAgent, `{"mode":"listen"}`).problem(t, 403, "")
	f.do("POST", "/api/v1/calls/z1/supervisions", tokSup, `{"mode":"listen"}`).problem(t, 404, "")
	for _, tc := range []struct {
		err    error
		status int
	}{
		{b2bua.ErrNotRegistered, 409}, {b2bua.ErrModeNotAllowed, 403}, {b2bua.ErrAlreadySupervised, 409},
		{b2bua.ErrCallNotAnswered, 409}, {b2bua.ErrCallNotFound, 404}, {errors.New("boom"), 500},
	} {
		f.sw.failNext(tc.err)
		f.do("POST", "/api/v1/calls/c1/supervisions", tokSup, `{"mode":"listen"}`).problem(t, tc.status, "")
	}

	var next b2bua.SupervisionSnapshot
	f.must(200, "PATCH", "/api/v1/supervisions/"+sp.ID, tokSup, `{"mode":"barge"}`).decode(t, &next)
	if next.Mode != b2bua.ModeBarge {
		t.Fatalf("switched %+v", next)
	}
	f.do("PATCH", "/api/v1/supervisions/"+sp.ID, tokSup, `{"mode":""}`).problem(t, 400, "mode")
	f.do("PATCH", "/api/v1/supervisions/"+sp.ID, tokSup2, `{"mode":"listen"}`).problem(t, 403, "")
	f.do("PATCH", "/api/v1/supervisions/"+sp.ID, tokAgent, `{"mode":"listen"}`).problem(t, 403, "")
	f.do("PATCH", "/api/v1/supervisions/"+sp.ID, tokOtherSup, `{"mode":"listen"}`).problem(t, 404, "")
	f.do("PATCH", "/api/v1/supervisions/nope", tokSup, `{"mode":"listen"}`).problem(t, 404, "")
	f.sw.failNext(b2bua.ErrSupervisionGone)
	f.do("PATCH", "/api/v1/supervisions/"+sp.ID, tokSup, `{"mode":"listen"}`).problem(t, 409, "")
	// An admin may take over any supervision of the tenant.
	f.must(200, "PATCH", "/api/v1/supervisions/"+sp.ID, tokAdmin, `{"mode":"intercept"}`)
	f.do("DELETE", "/api/v1/supervisions/"+sp.ID, tokSup2, "").problem(t, 403, "")
	r = f.must(204, "DELETE", "/api/v1/supervisions/"+sp.ID, tokSup, "")
	if len(r.body) != 0 {
		t.Errorf("204 with body %q", r.body)
	}
	f.do("DELETE", "/api/v1/supervisions/"+sp.ID, tokSup, "").problem(t, 404, "")

	var page AuditPage
	f.must(200, "GET", "/api/v1/audit?call_id=c1", tokSup, "").decode(t, &page)
	var got []string
	for _, r := range page.Records {
		got = append(got, r.Actor+" "+r.Action+" "+r.Mode+" "+r.Result)
	}
	want := []string{
		"2001 supervision.requested whisper ok",
		"2001 supervision.requested listen failed", "2001 supervision.requested listen failed",
		"2001 supervision.requested listen failed", "2001 supervision.requested listen failed",
		"2001 supervision.requested listen failed", "2001 supervision.requested listen failed",
		"2001 supervision.change_mode barge ok",
		"2001 supervision.change_mode listen failed",
		"9000 supervision.change_mode intercept ok",
		"2001 supervision.end intercept ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNotes(t *testing.T) {
	f := newFixture(t)
	var n Note
	f.must(201, "POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"offer the refund"}`).decode(t, &n)
	if n.Author != "2001" || len(n.To) != 1 || n.To[0] != "1001" || n.Text != "offer the refund" {
		t.Fatalf("note %+v", n)
	}
	f.do("POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"  "}`).problem(t, 400, "text")
	f.do("POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"`+strings.Repeat("é", MaxNoteLength+1)+`"}`).problem(t, 400, "text")
	f.do("POST", "/api/v1/calls/c1/notes", tokSup, `{"txt":"x"}`).problem(t, 400, "txt")
	f.do("POST", "/api/v1/calls/c1/notes", tokAgent, `{"text":"x"}`).problem(t, 403, "")
	f.do("POST", "/api/v1/calls/z1/notes", tokSup, `{"text":"x"}`).problem(t, 404, "")
	var list NoteList
	f.must(200, "GET", "/api/v1/notes", tokAgent, "").decode(t, &list)
	if len(list.Notes) != 1 || list.Notes[0].ID != n.ID {
		t.Fatalf("agent's notes %+v", list)
	}
	f.must(200, "GET", "/api/v1/notes", tokAgent2, "").decode(t, &list)
	if len(list.Notes) != 0 {
		t.Fatalf("other agent's notes %+v", list)
	}
	f.must(200, "GET", "/api/v1/notes?call_id=c2", tokSup, "").decode(t, &list)
	if len(list.Notes) != 0 {
		t.Fatalf("call filter %+v", list)
	}
	f.must(200, "GET", "/api/v1/notes", tokOtherSup, "").decode(t, &list)
	if len(list.Notes) != 0 {
		t.Fatalf("other tenant sees %+v", list)
	}
}

func TestAudit(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.setNow(t0.Add(time.Duration(i) * time.Second))
		f.must(201, "POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"n"}`)
	}
	f.must(201, "POST", "/api/v1/calls/c2/notes", tokAdmin, `{"text":"=cmd|' /C calc'!A0"}`)
	f.do("GET", "/api/v1/audit", tokAgent, "").problem(t, 403, "")

	var page AuditPage
	var all []AuditRecord
	cursor := ""
	for pages := 0; ; pages++ {
		page = AuditPage{}
		f.must(200, "GET", "/api/v1/audit?actor=2001&limit=2&cursor="+cursor, tokSup, "").decode(t, &page)
		all = append(all, page.Records...)
		if page.NextCursor == "" {
			break
		}
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		cursor = page.NextCursor
	}
	if len(all) != 5 {
		t.Fatalf("%d records over pages", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].Time.Before(all[i].Time) {
			t.Fatalf("not in time order: %+v", all)
		}
	}
	f.must(200, "GET", "/api/v1/audit?from=2025-03-01T10:00:01Z&to=2025-03-01T10:00:03Z", tokSup, "").decode(t, &page)
	if len(page.Records) != 2 {
		t.Fatalf("range: %+v", page.Records)
	}
	f.must(200, "GET", "/api/v1/audit?action=note.created&actor=9000", tokSup, "").decode(t, &page)
	if len(page.Records) != 1 || page.Records[0].CallID != "c2" {
		t.Fatalf("action+actor: %+v", page.Records)
	}
	for _, bad := range []struct{ q, field string }{
		{"from=yesterday", "from"}, {"to=1", "to"}, {"from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", "to"},
		{"limit=0", "limit"}, {"limit=5000", "limit"}, {"cursor=***", "cursor"}, {"cursor=AAAA", "cursor"},
	} {
		f.do("GET", "/api/v1/audit?"+bad.q, tokSup, "").problem(t, 400, bad.field)
	}
	f.must(200, "GET", "/api/v1/audit", tokOtherSup, "").decode(t, &page)
	if len(page.Records) != 0 {
		t.Fatalf("other tenant reads %+v", page.Records)
	}

	r := f.doHdr("GET", "/api/v1/audit", tokSup, "", map[string]string{"Accept": "text/csv"})
	if r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv %d %v", r.code, r.hdr)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || strings.Join(rows[0], ",") != strings.Join(auditColumns(), ",") || rows[1][5] != ActionNote {
		t.Fatalf("csv rows %q", rows)
	}
	if rows[1][1] != "2025-03-01T10:00:00.000Z" {
		t.Errorf("csv time %q", rows[1][1])
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{"": "", "c1": "c1", "=1+1": "'=1+1", "@x": "'@x", "-2": "'-2"} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q", in, got)
		}
	}
}

func TestMetricsSnapshot(t *testing.T) {
	f := newFixture(t)
	f.must(200, "GET", "/api/v1/calls", tokSup, "")
	f.do("GET", "/api/v1/calls", "", "")
	f.do("GET", "/api/v1/nope", tokSup, "")
	st := f.svc.Stats()
	found := map[string]RouteStats{}
	for _, r := range st.Requests {
		found[r.Route] = r
	}
	calls := found["GET /api/v1/calls"]
	if calls.Latency.Count != 2 || len(calls.Statuses) != 2 || calls.Statuses[0] != (StatusCount{200, 1}) || calls.Statuses[1] != (StatusCount{401, 1}) {
		t.Errorf("calls route %+v", calls)
	}
	if n := len(calls.Latency.Counts); n != len(latencyBounds()) || calls.Latency.Counts[n-1] > calls.Latency.Count {
		t.Errorf("histogram %+v", calls.Latency)
	}
	if u := found[unmatchedRoute]; u.Latency.Count != 1 || u.Statuses[0].Status != 404 {
		t.Errorf("unmatched %+v", u)
	}
	if len(st.Requests) != len(routes(f.svc))+1 {
		t.Errorf("%d routes in stats", len(st.Requests))
	}
}
