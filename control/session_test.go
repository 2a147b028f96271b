package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// fakeSessions knows one cookie value per session.
type fakeSessions struct {
	mu   sync.Mutex
	byID map[string]Session
}

func (s *fakeSessions) Session(r *http.Request) (Session, bool) {
	c, err := r.Cookie("sid")
	if err != nil {
		return Session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[c.Value]
	return sess, ok
}

func sessionFixture(t *testing.T) (*fixture, chan struct{}) {
	done := make(chan struct{})
	fs := &fakeSessions{byID: map[string]Session{
		"sup":   {Principal: Principal{Tenant: "acme", User: "2001", Role: RoleSupervisor}, CSRF: "tok-sup", Done: done},
		"agent": {Principal: Principal{Tenant: "acme", User: "1001", Role: RoleAgent}, CSRF: "tok-agent", Done: make(chan struct{})},
	}}
	return newFixtureMod(t, func(c *Config) { c.Sessions = fs }), done
}

// TestSessionCookieAuth: a session cookie authenticates like a token; a
// state-changing request needs the session's CSRF token, a read does not;
// a token still works and needs none.
func TestSessionCookieAuth(t *testing.T) {
	f, _ := sessionFixture(t)
	cookie := map[string]string{"Cookie": "sid=sup"}
	if r := f.doHdr("GET", "/api/v1/calls", "", "", cookie); r.code != 200 || !strings.Contains(string(r.body), `"c1"`) {
		t.Fatalf("GET by cookie: %d %s", r.code, r.body)
	}
	f.doHdr("GET", "/api/v1/calls", "", "", map[string]string{"Cookie": "sid=nobody"}).problem(t, 401, "")
	body := `{"text":"hello"}`
	f.doHdr("POST", "/api/v1/calls/c1/notes", "", body, cookie).problem(t, 403, "")
	f.doHdr("POST", "/api/v1/calls/c1/notes", "", body, map[string]string{"Cookie": "sid=sup", CSRFHeader: "tok-agent"}).problem(t, 403, "")
	if r := f.doHdr("POST", "/api/v1/calls/c1/notes", "", body, map[string]string{"Cookie": "sid=sup", CSRFHeader: "tok-sup"}); r.code != 201 {
		t.Fatalf("POST with the CSRF token: %d %s", r.code, r.body)
	}
	// The role comes from the session: the agent's cookie is refused a
	// supervisor's route even with its token.
	f.doHdr("POST", "/api/v1/calls/c1/notes", "", body, map[string]string{"Cookie": "sid=agent", CSRFHeader: "tok-agent"}).problem(t, 403, "")
	if r := f.doHdr("POST", "/api/v1/calls/c1/notes", tokSup, body, nil); r.code != 201 {
		t.Fatalf("POST by token: %d %s", r.code, r.body)
	}
}

// TestSessionStreamEndsWithSession: an event stream opened by a session
// ends when the session does (sign-out, expiry).
func TestSessionStreamEndsWithSession(t *testing.T) {
	f, done := sessionFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events", nil)
	req.Header.Set("Cookie", "sid=sup")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, res)
	}
	defer res.Body.Close()
	close(done)
	buf := make([]byte, 512)
	for {
		if _, err := res.Body.Read(buf); err != nil {
			if ctx.Err() != nil {
				t.Fatal("stream still open after the session ended")
			}
			return
		}
	}
}

// TestCORS: listed origins get CORS headers and preflights; others none.
func TestCORS(t *testing.T) {
	f := newFixtureMod(t, func(c *Config) { c.CORSOrigins = []string{"https://wall.example"} })
	pre := map[string]string{"Origin": "https://wall.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization, content-type"}
	r := f.doHdr("OPTIONS", "/api/v1/help-requests", "", "", pre)
	if r.code != 204 || r.hdr.Get("Access-Control-Allow-Origin") != "https://wall.example" ||
		!strings.Contains(r.hdr.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.code, r.hdr)
	}
	if r.hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed cross-origin")
	}
	pre["Origin"] = "https://evil.example"
	f.doHdr("OPTIONS", "/api/v1/help-requests", "", "", pre).problem(t, 403, "")
	r = f.doHdr("GET", "/api/v1/calls", tokSup, "", map[string]string{"Origin": "https://wall.example"})
	if r.code != 200 || r.hdr.Get("Access-Control-Allow-Origin") != "https://wall.example" {
		t.Fatalf("GET: %d %v", r.code, r.hdr)
	}
	r = f.doHdr("GET", "/api/v1/calls", tokSup, "", map[string]string{"Origin": "https://evil.example"})
	if r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unlisted origin allowed: %v", r.hdr)
	}
	// Without a list nothing changes: no header, preflight not served.
	g := newFixture(t)
	if r := g.doHdr("GET", "/api/v1/calls", tokSup, "", map[string]string{"Origin": "https://wall.example"}); r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS without a list: %v", r.hdr)
	}
}

// TestEndedCallsByCaller: state=ended lists stored calls newest first,
// filtered by the caller's number, in the caller's tenant only.
func TestEndedCallsByCaller(t *testing.T) {
	f := newFixture(t)
	end := func(id, tenant, caller string, ago time.Duration, answered bool) {
		c := b2bua.CallSnapshot{ID: id, Tenant: tenant, Direction: b2bua.Inbound, Group: "support", Number: "100",
			Caller: b2bua.Party{Number: caller}, Agents: []string{"1001"}, StartedAt: t0.Add(-ago), State: b2bua.StateEnded,
			EndedAt: t0.Add(-ago + 30*time.Second), EndReason: b2bua.EndCallerHangup}
		if answered {
			c.AnsweredAt = t0.Add(-ago + 5*time.Second)
		}
		f.svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallEnded, Time: c.EndedAt, Call: c})
	}
	end("e1", "acme", "+15550111", 3*time.Hour, true)
	end("e2", "acme", "+15550111", 2*time.Hour, false)
	end("e3", "acme", "+15550222", time.Hour, true)
	end("e4", "zeta", "+15550111", time.Hour, true)
	f.svc.flush()
	var l CallList
	f.must(200, "GET", "/api/v1/calls?state=ended&caller=%2B15550111", tokSup, "").decode(t, &l)
	if len(l.Calls) != 2 || l.Calls[0].ID != "e2" || l.Calls[1].ID != "e1" || l.Calls[1].AnsweredAt.IsZero() ||
		l.Calls[0].DurationSeconds != 30 {
		t.Fatalf("ended calls: %+v", l.Calls)
	}
	f.must(200, "GET", "/api/v1/calls?state=ended&limit=1", tokSup, "").decode(t, &l)
	if len(l.Calls) != 1 || l.Calls[0].ID != "e3" {
		t.Fatalf("limit 1: %+v", l.Calls)
	}
	f.must(200, "GET", "/api/v1/calls?caller=%2B15550100", tokSup, "").decode(t, &l)
	if len(l.Calls) != 2 {
		t.Fatalf("live by caller: %+v", l.Calls)
	}
	f.do("GET", "/api/v1/calls?state=gone", tokSup, "").problem(t, 400, "state")
	f.do("GET", "/api/v1/calls?state=ended&limit=0", tokSup, "").problem(t, 400, "limit")
	f.do("GET", "/api/v1/calls?limit=5000", tokSup, "").problem(t, 400, "limit")
	f.do("GET", "/api/v1/calls?state=ended&cursor=AAAAAAAAAAAA", tokSup, "").problem(t, 400, "cursor")
}
