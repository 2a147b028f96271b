package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/earshot/earshot/b2bua"
)

// TestOtherTenantGets404: a supervisor of another tenant gets 404 for every
// object of this one, exactly as for an id that does not exist.
func TestOtherTenantGets404(t *testing.T) {
	f := newFixture(t)
	h := f.openHelp()
	var sp b2bua.SupervisionSnapshot
	f.must(201, "POST", "/api/v1/calls/c1/supervisions", tokSup, `{"mode":"listen"}`).decode(t, &sp)
	for _, tok := range []string{tokOtherSup, tokOtherAgent} {
		for _, rq := range []struct{ method, path, body string }{
			{"GET", "/api/v1/calls/c1", ""},
			{"POST", "/api/v1/calls/c1/supervisions", `{"mode":"listen"}`},
			{"PATCH", "/api/v1/supervisions/" + sp.ID, `{"mode":"barge"}`},
			{"DELETE", "/api/v1/supervisions/" + sp.ID, ""},
			{"GET", "/api/v1/help-requests/" + h.ID, ""},
			{"POST", "/api/v1/help-requests/" + h.ID + "/accept", ""},
			{"POST", "/api/v1/help-requests/" + h.ID + "/close", ""},
			{"POST", "/api/v1/help-requests/" + h.ID + "/cancel", ""},
			{"POST", "/api/v1/calls/c1/notes", `{"text":"x"}`},
		} {
			want := 404
			if tok == tokOtherAgent && (strings.Contains(rq.path, "supervisions") || strings.HasSuffix(rq.path, "accept") || strings.HasSuffix(rq.path, "notes")) {
				want = 403 // the role is refused before any lookup
			}
			r := f.do(rq.method, rq.path, tok, rq.body)
			r.problem(t, want, "")
			// Same answer for an id that exists nowhere.
			missing := strings.NewReplacer("c1", "nope", h.ID, "nope", sp.ID, "nope").Replace(rq.path)
			if m := f.do(rq.method, missing, tok, rq.body); m.code != r.code {
				t.Errorf("%s %s: %d for another tenant's object, %d for a missing one", rq.method, rq.path, r.code, m.code)
			}
		}
	}
	var list HelpRequestList
	f.must(200, "GET", "/api/v1/help-requests", tokOtherSup, "").decode(t, &list)
	var calls CallList
	f.must(200, "GET", "/api/v1/calls", tokOtherSup, "").decode(t, &calls)
	if len(list.HelpRequests) != 0 || len(calls.Calls) != 1 || calls.Calls[0].ID != "z1" {
		t.Errorf("other tenant lists %+v %+v", list, calls)
	}
	// Nothing changed.
	var got HelpRequest
	f.must(200, "GET", "/api/v1/help-requests/"+h.ID, tokSup, "").decode(t, &got)
	if got.Status != HelpOpen {
		t.Errorf("request %+v", got)
	}
}

// TestAgentCannotSupervise: an agent cannot supervise, accept, read the
// audit or statistics, and its API shows no trace of monitoring.
func TestAgentCannotSupervise(t *testing.T) {
	f := newFixture(t)
	h := f.openHelp()
	var sp b2bua.SupervisionSnapshot
	f.must(201, "POST", "/api/v1/calls/c1/supervisions", tokSup, `{"mode":"listen"}`).decode(t, &sp)
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/api/v1/calls/c1/supervisions", `{"mode":"listen"}`},
		{"PATCH", "/api/v1/supervisions/" + sp.ID, `{"mode":"barge"}`},
		{"DELETE", "/api/v1/supervisions/" + sp.ID, ""},
		{"POST", "/api/v1/help-requests/" + h.ID + "/accept", ""},
		{"GET", "/api/v1/audit", ""},
		{"GET", "/api/v1/stats", ""},
		{"GET", "/api/v1/reports/supervision", ""},
		{"POST", "/api/v1/calls/c1/notes", `{"text":"x"}`},
	} {
		f.do(rq.method, rq.path, tokAgent, rq.body).problem(t, 403, "")
	}
	for _, path := range []string{"/api/v1/calls", "/api/v1/calls/c1", "/api/v1/help-requests", "/api/v1/notes"} {
		body := string(f.must(200, "GET", path, tokAgent, "").body)
		for _, word := range []string{"supervision", "listen", sp.ID} {
			if strings.Contains(body, word) {
				t.Errorf("%s shows the agent %q: %s", path, word, body)
			}
		}
	}
}

// TestConcurrentAccepts: N supervisors accept one request at once over real
// connections; exactly one wins.
func TestConcurrentAccepts(t *testing.T) {
	for _, batch := range []bool{false, true} {
		name := "update"
		if batch {
			name = "batch"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			if batch {
				f.svc.batch = true
			}
			h := f.openHelp()
			srv := httptest.NewServer(f.h)
			defer srv.Close()
			const n = 16
			codes := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				tok := []string{tokSup, tokSup2, tokAdmin}[i%3]
				wg.Go(func() {
					req, _ := http.NewRequest("POST", srv.URL+"/api/v1/help-requests/"+h.ID+"/accept", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					<-start
					res, err := srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					codes[i] = res.StatusCode
				})
			}
			close(start)
			wg.Wait()
			won, lost := 0, 0
			for _, c := range codes {
				switch c {
				case 200:
					won++
				case 409:
					lost++
				}
			}
			if won != 1 || lost != n-1 {
				t.Fatalf("codes %v", codes)
			}
			var page AuditPage
			f.must(200, "GET", "/api/v1/audit?action="+ActionHelpAccepted, tokSup, "").decode(t, &page)
			if len(page.Records) != 1 {
				t.Errorf("%d accept records", len(page.Records))
			}
		})
	}
}
