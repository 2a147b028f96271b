package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/control"
)

// Sign-in throttling: after maxFailures wrong passwords from one source
// address within failureWindow, that source is refused (429) until the
// window has passed since its first failure.
const (
	maxFailures   = 5
	failureWindow = 5 * time.Minute
	// maxSources bounds the failure table; past it the oldest windows
	// are dropped first by a sweep, and a full table stops counting new
	// sources rather than growing.
	maxSources = 16384
	// maxLoginBody bounds a sign-in request.
	maxLoginBody = 4 << 10
)

type failures struct {
	first time.Time
	n     int
}

// failureLimiter counts sign-in failures per source address.
type failureLimiter struct {
	failures atomic.Uint64
	refused  atomic.Uint64

	mu    sync.Mutex // guards bySrc
	bySrc map[string]*failures
}

func newFailureLimiter() *failureLimiter { return &failureLimiter{bySrc: map[string]*failures{}} }

// blocked reports whether src is refused now, and for how long.
func (l *failureLimiter) blocked(src string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.bySrc[src]
	if !ok {
		return 0, false
	}
	left := failureWindow - now.Sub(f.first)
	if left <= 0 {
		delete(l.bySrc, src)
		return 0, false
	}
	return left, f.n >= maxFailures
}

func (l *failureLimiter) fail(src string, now time.Time) {
	l.failures.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.bySrc[src]
	if !ok {
		if len(l.bySrc) >= maxSources {
			l.sweepLocked(now)
			if len(l.bySrc) >= maxSources {
				return
			}
		}
		f = &failures{first: now}
		l.bySrc[src] = f
	}
	f.n++
}

func (l *failureLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *failureLimiter) sweepLocked(now time.Time) {
	for src, f := range l.bySrc {
		if now.Sub(f.first) >= failureWindow {
			delete(l.bySrc, src)
		}
	}
}

// source is the request's client address without its port.
func source(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Me is the answer of GET /auth/me and POST /auth/login: who is signed
// in, the CSRF token the page sends on state-changing requests, and what
// the page needs to draw its controls.
type Me struct {
	Tenant       string   `json:"tenant"`
	User         string   `json:"user"`
	Name         string   `json:"name,omitempty"`
	Role         string   `json:"role"`
	CSRFToken    string   `json:"csrf_token"`
	Modes        []string `json:"modes"`
	PauseReasons []string `json:"pause_reasons"`
	// ExpiresAt is when the session ends at the latest (its absolute
	// age); it may end sooner when idle.
	ExpiresAt time.Time `json:"expires_at"`
	// SIPDomain is the domain the page's webphone registers in (the
	// tenant's first SIP domain, or its name), over SIP over WebSocket
	// at /sip.
	SIPDomain string `json:"sip_domain"`
	// Ring is where the user's calls ring: "both", "browser" or "phone"
	// (users[].ring); the page's webphone registers unless it is "phone".
	Ring string `json:"ring"`
}

// LoginRequest is the body of POST /auth/login (JSON, or the same names
// as a form).
type LoginRequest struct {
	User     string `json:"user"` // extension, or extension@domain
	Password string `json:"password"`
}

// sameOrigin reports whether a browser says the request comes from the
// workspace's own origin. Sign-in has no session yet, hence no CSRF
// token; checking the Origin (or Fetch Metadata) instead stops another
// site from signing a victim into the attacker's account.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser's cross-site request
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (w *Workspace) login(rw http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(rw, http.StatusForbidden, "sign-in from another site")
		return
	}
	now := w.now()
	src := source(r)
	if left, blocked := w.limiter.blocked(src, now); blocked {
		w.limiter.refused.Add(1)
		w.log.Warn("sign-in refused: too many failures", "source", src)
		rw.Header().Set("Retry-After", strconv.Itoa(int(left.Seconds())+1))
		writeError(rw, http.StatusTooManyRequests, "too many failed sign-ins; try again later")
		return
	}
	req, err := readLogin(rw, r)
	if err != nil {
		writeError(rw, http.StatusBadRequest, err.Error())
		return
	}
	a, err := w.users.authenticate(req.User, req.Password, r.Host)
	var amb errAmbiguous
	switch {
	case errors.As(err, &amb):
		writeError(rw, http.StatusBadRequest, err.Error())
		return
	case a == nil:
		w.limiter.fail(src, now)
		w.log.Info("sign-in failed", "source", src)
		writeError(rw, http.StatusUnauthorized, "wrong extension or password")
		return
	}
	// A session cookie the browser already holds is replaced, never
	// reused: an id set before sign-in cannot become a signed-in one.
	if old, ok := cookieID(r); ok {
		w.sessions.end(old)
	}
	id, ss, err := w.sessions.create(a.p, now)
	if err != nil {
		writeError(rw, http.StatusServiceUnavailable, "too many sessions")
		return
	}
	setCookie(rw, r, id, w.sessions.maxAge)
	w.log.Info("signed in", "tenant", a.p.Tenant, "user", a.p.User, "role", a.p.Role)
	writeJSON(rw, http.StatusOK, w.meOf(a, ss))
}

func readLogin(rw http.ResponseWriter, r *http.Request) (LoginRequest, error) {
	var req LoginRequest
	r.Body = http.MaxBytesReader(rw, r.Body, maxLoginBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return req, errors.New("body: not a JSON sign-in")
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return req, errors.New("body: not a form")
		}
		req.User, req.Password = r.PostForm.Get("user"), r.PostForm.Get("password")
	default:
		return req, errors.New("content type: want application/json or a form")
	}
	if req.User == "" || req.Password == "" {
		return req, errors.New("user and password are required")
	}
	return req, nil
}

func (w *Workspace) meOf(a *account, ss *session) Me {
	return Me{Tenant: a.p.Tenant, User: a.p.User, Name: a.p.Name, Role: string(a.p.Role), CSRFToken: ss.csrf,
		Modes: nonNil(a.modes), PauseReasons: nonNil(a.pauseReasons), ExpiresAt: ss.created.Add(w.sessions.maxAge).UTC(),
		SIPDomain: a.domains[min(1, len(a.domains)-1)], Ring: a.ring}
}

// PhoneUser is who a WebSocket upgrade to /sip comes from: the signed-in
// user of its session cookie, when a page of the workspace's own origin
// opened it. That flow's requests need no SIP password (the webphone).
// A connection without one still serves SIP, with digest.
func (w *Workspace) PhoneUser(r *http.Request) (tenant, ext string, ok bool) {
	if r.Header.Get("Origin") == "" || !sameOrigin(r) {
		return "", "", false
	}
	id, ok := cookieID(r)
	if !ok {
		return "", "", false
	}
	ss, ok := w.sessions.get(id, w.now(), false)
	if !ok {
		return "", "", false
	}
	return ss.p.Tenant, ss.p.User, true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// account returns the account of a session's principal.
func (w *Workspace) account(p control.Principal) *account {
	for _, a := range w.users.byExt[p.User] {
		if a.p.Tenant == p.Tenant {
			return a
		}
	}
	return nil
}

func (w *Workspace) me(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Cache-Control", "no-store")
	id, ok := cookieID(r)
	var ss *session
	if ok {
		ss, ok = w.sessions.get(id, w.now(), activity(r))
	}
	a := (*account)(nil)
	if ok {
		a = w.account(ss.p)
	}
	if a == nil {
		writeError(rw, http.StatusUnauthorized, "not signed in")
		return
	}
	writeJSON(rw, http.StatusOK, w.meOf(a, ss))
}

// logout ends the session. Like every state-changing request made with
// the cookie, it needs the session's CSRF token, so another site cannot
// sign the user out.
func (w *Workspace) logout(rw http.ResponseWriter, r *http.Request) {
	id, ok := cookieID(r)
	var ss *session
	if ok {
		ss, ok = w.sessions.get(id, w.now(), false)
	}
	if !ok {
		setCookie(rw, r, "", 0)
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	if got := r.Header.Get(control.CSRFHeader); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) != 1 {
		writeError(rw, http.StatusForbidden, "missing or wrong "+control.CSRFHeader+" header")
		return
	}
	w.sessions.end(id)
	setCookie(rw, r, "", 0)
	w.log.Info("signed out", "tenant", ss.p.Tenant, "user", ss.p.User)
	rw.WriteHeader(http.StatusNoContent)
}

// writeError writes an RFC 9457 problem, like the API's.
func writeError(rw http.ResponseWriter, status int, detail string) {
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}
