package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/control"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func testTenants() []b2bua.Tenant {
	return []b2bua.Tenant{
		{Name: "acme", Domains: []string{"acme.example"}, Users: []b2bua.User{
			{Extension: "1001", Name: "Ann", Role: "agent", Password: "pw-ann"},
			{Extension: "2001", Name: "Sam", Role: "supervisor", Password: "pw-sam", Modes: []b2bua.Mode{b2bua.ModeListen}},
			{Extension: "3001", Role: "agent"}, // no password: cannot sign in
		}},
		{Name: "zeta", Domains: []string{"zeta.example"}, Users: []b2bua.User{
			{Extension: "2001", Role: "supervisor", Password: "pw-zed"},
		}},
	}
}

type fixture struct {
	t     *testing.T
	w     *Workspace
	h     http.Handler
	clock atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t}
	f.clock.Store(t0.UnixNano())
	w, err := New(Config{Tenants: testTenants(), Now: func() time.Time { return time.Unix(0, f.clock.Load()) },
		IdleTimeout: time.Hour, MaxAge: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f.w, f.h = w, w.Handler()
	return f
}

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

func (f *fixture) do(method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:5555"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// login signs in and returns the cookie header value and the CSRF token.
func (f *fixture) login(user, pw string) (string, string) {
	f.t.Helper()
	rec := f.do("POST", "/auth/login", `{"user":"`+user+`","password":"`+pw+`"}`, nil)
	if rec.Code != 200 {
		f.t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body)
	}
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != CookieName || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Secure {
		f.t.Fatalf("cookie %+v", c)
	}
	var tok string
	if i := strings.Index(rec.Body.String(), `"csrf_token":"`); i >= 0 {
		tok, _, _ = strings.Cut(rec.Body.String()[i+len(`"csrf_token":"`):], `"`)
	}
	return CookieName + "=" + c[0].Value, tok
}

func TestLoginAndMe(t *testing.T) {
	f := newFixture(t)
	if rec := f.do("GET", "/auth/me", "", nil); rec.Code != 401 {
		t.Fatalf("me without a session: %d", rec.Code)
	}
	cookie, tok := f.login("1001", "pw-ann")
	rec := f.do("GET", "/auth/me", "", map[string]string{"Cookie": cookie})
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `"user":"1001"`) || !strings.Contains(body, `"role":"agent"`) ||
		!strings.Contains(body, tok) || !strings.Contains(body, `"pause_reasons":["break","lunch","training"]`) || len(tok) < 40 {
		t.Fatalf("me: %d %s", rec.Code, body)
	}
	// A form works as well as JSON; the supervisor's modes come along.
	req := httptest.NewRequest("POST", "/auth/login", strings.NewReader("user=2001%40acme.example&password=pw-sam"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"modes":["listen"]`) || !strings.Contains(rec.Body.String(), `"tenant":"acme"`) {
		t.Fatalf("form login: %d %s", rec.Code, rec.Body)
	}
}

func TestLoginRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		body string
		hdr  map[string]string
		code int
	}{
		{`{"user":"1001","password":"wrong"}`, nil, 401},
		{`{"user":"9999","password":"pw-ann"}`, nil, 401},
		{`{"user":"3001","password":""}`, nil, 400},
		{`{"user":"2001","password":"pw-sam"}`, nil, 400}, // two tenants have 2001
		{`not json`, nil, 400},
		{`{"user":"1001","password":"pw-ann"}`, map[string]string{"Origin": "https://evil.example"}, 403},
		{`{"user":"1001","password":"pw-ann"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
	} {
		if rec := f.do("POST", "/auth/login", tc.body, tc.hdr); rec.Code != tc.code {
			t.Errorf("%s %v: %d, want %d (%s)", tc.body, tc.hdr, rec.Code, tc.code, rec.Body)
		}
	}
	// The page's host picks the tenant of a bare extension.
	req := httptest.NewRequest("POST", "http://zeta.example:8080/auth/login", strings.NewReader(`{"user":"2001","password":"pw-zed"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"tenant":"zeta"`) {
		t.Fatalf("login by host: %d %s", rec.Code, rec.Body)
	}
	f.login("2001@zeta.example", "pw-zed")
}

// TestLoginThrottle: the fifth failure from a source blocks it, even with
// the right password, until the window has passed.
func TestLoginThrottle(t *testing.T) {
	f := newFixture(t)
	for range maxFailures - 2 {
		f.do("POST", "/auth/login", `{"user":"1001","password":"x"}`, nil)
	}
	f.login("1001", "pw-ann") // not yet blocked
	f.do("POST", "/auth/login", `{"user":"1001","password":"x"}`, nil)
	f.do("POST", "/auth/login", `{"user":"1001","password":"x"}`, nil)
	rec := f.do("POST", "/auth/login", `{"user":"1001","password":"pw-ann"}`, nil)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d", maxFailures, rec.Code)
	}
	if st := f.w.Stats(); st.LoginFailures != maxFailures || st.LoginRefused != 1 || st.Sessions != 1 {
		t.Errorf("stats %+v", st)
	}
	f.advance(failureWindow)
	f.login("1001", "pw-ann")
}

func TestLogoutNeedsCSRF(t *testing.T) {
	f := newFixture(t)
	cookie, tok := f.login("1001", "pw-ann")
	if rec := f.do("POST", "/auth/logout", "", map[string]string{"Cookie": cookie}); rec.Code != 403 {
		t.Fatalf("logout without the token: %d", rec.Code)
	}
	if rec := f.do("POST", "/auth/logout", "", map[string]string{"Cookie": cookie, control.CSRFHeader: tok}); rec.Code != 204 {
		t.Fatalf("logout: %d", rec.Code)
	}
	if rec := f.do("GET", "/auth/me", "", map[string]string{"Cookie": cookie}); rec.Code != 401 {
		t.Fatalf("me after logout: %d", rec.Code)
	}
}

// TestSessionExpiry: idle expiry is pushed back by requests; the absolute
// age is not; an ended session's Done is closed.
func TestSessionExpiry(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login("1001", "pw-ann")
	req := httptest.NewRequest("GET", "/api/v1/calls", nil)
	req.Header.Set("Cookie", cookie)
	sess, ok := f.w.Session(req)
	if !ok || sess.Principal.User != "1001" || sess.Principal.Tenant != "acme" {
		t.Fatalf("session %+v %v", sess, ok)
	}
	for range 5 { // 5 × 50 min: past the 3 h absolute age
		f.advance(50 * time.Minute)
		if _, ok := f.w.Session(req); !ok {
			break
		}
	}
	if _, ok := f.w.Session(req); ok {
		t.Fatal("session outlived its absolute age")
	}
	select {
	case <-sess.Done:
	default:
		t.Fatal("Done not closed")
	}
	// The page's background requests and the stream are not activity.
	cookie, _ = f.login("1001", "pw-ann")
	req.Header.Set("Cookie", cookie)
	bg := httptest.NewRequest("GET", "/api/v1/stats", nil)
	bg.Header.Set("Cookie", cookie)
	bg.Header.Set(BackgroundHeader, "1")
	stream := httptest.NewRequest("GET", "/api/v1/events", nil)
	stream.Header.Set("Cookie", cookie)
	for range 2 {
		f.advance(25 * time.Minute)
		if _, ok := f.w.Session(bg); !ok {
			t.Fatal("session ended early")
		}
		if _, ok := f.w.Session(stream); !ok {
			t.Fatal("session ended early")
		}
	}
	f.advance(11 * time.Minute)
	f.w.sessions.sweep(f.w.now())
	if _, ok := f.w.Session(req); ok || f.w.Stats().Sessions != 0 {
		t.Fatal("idle session still live")
	}
}

func TestPageAndAssets(t *testing.T) {
	f := newFixture(t)
	rec := f.do("GET", "/", "", nil)
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") ||
		rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("ETag") == "" {
		t.Fatalf("page: %d %v", rec.Code, rec.Header())
	}
	if strings.Contains(page, "{{") {
		t.Fatal("page has unreplaced asset names")
	}
	if rec := f.do("GET", "/", "", map[string]string{"If-None-Match": rec.Header().Get("ETag")}); rec.Code != 304 {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	i := strings.Index(page, "/assets/app.js?v=")
	if i < 0 {
		t.Fatal("page does not name app.js")
	}
	src, _, _ := strings.Cut(page[i:], `"`)
	rec = f.do("GET", src, "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("asset: %d %v", rec.Code, rec.Header())
	}
	if rec := f.do("GET", "/assets/app.js?v=old", "", nil); rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("stale version cached for a year: %v", rec.Header())
	}
	for _, p := range []string{"/assets/nope.js", "/other"} {
		if rec := f.do("GET", p, "", nil); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

// TestCookieSecureOverTLS: over TLS the cookie is Secure; sign-out
// clears it.
func TestCookieSecureOverTLS(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest("POST", "https://earshot.example/auth/login", strings.NewReader(`{"user":"1001","password":"pw-ann"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	c := rec.Result().Cookies()
	if rec.Code != 200 || len(c) != 1 || !c[0].Secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login over TLS: %d %+v", rec.Code, c)
	}
	var me Me
	if err := json.Unmarshal(rec.Body.Bytes(), &me); err != nil {
		t.Fatal(err)
	}
	out := httptest.NewRequest("POST", "https://earshot.example/auth/logout", nil)
	out.Header.Set("Cookie", CookieName+"="+c[0].Value)
	out.Header.Set(control.CSRFHeader, me.CSRFToken)
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, out)
	if c := rec.Result().Cookies(); rec.Code != 204 || len(c) != 1 || c[0].MaxAge >= 0 || c[0].Value != "" {
		t.Fatalf("logout: %d %+v", rec.Code, c)
	}
}
