package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/earshot/earshot/control"
)

// CookieName is the session cookie's name.
const CookieName = "earshot_session"

// errTooManySessions: the table is full of live sessions.
var errTooManySessions = errors.New("too many sessions")

// session is one signed-in browser.
type session struct {
	p       control.Principal
	csrf    string
	created time.Time
	seen    time.Time // last request; guarded by the store's mu
	done    chan struct{}
}

// sessionStore is the table of live sessions, keyed by the cookie's value.
type sessionStore struct {
	idle, maxAge time.Duration
	max          int

	mu   sync.Mutex // guards byID and every session's seen
	byID map[string]*session
}

func newSessionStore(idle, maxAge time.Duration, max int) *sessionStore {
	return &sessionStore{idle: idle, maxAge: maxAge, max: max, byID: map[string]*session{}}
}

// randomToken is 32 random bytes, base64url without padding.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *sessionStore) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) >= s.idle || now.Sub(ss.created) >= s.maxAge
}

// create starts a session for p and returns its id.
func (s *sessionStore) create(p control.Principal, now time.Time) (string, *session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= s.max {
		s.sweepLocked(now)
		if len(s.byID) >= s.max {
			return "", nil, errTooManySessions
		}
	}
	id := randomToken()
	ss := &session{p: p, csrf: randomToken(), created: now, seen: now, done: make(chan struct{})}
	s.byID[id] = ss
	return id, ss, nil
}

// get returns the live session id names and, when touch is set, counts
// the request as activity. An expired session is ended on the spot.
func (s *sessionStore) get(id string, now time.Time, touch bool) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	if s.expired(ss, now) {
		s.endLocked(id, ss)
		return nil, false
	}
	if touch {
		ss.seen = now
	}
	return ss, true
}

// end ends the session id, if live.
func (s *sessionStore) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.byID[id]; ok {
		s.endLocked(id, ss)
	}
}

func (s *sessionStore) endLocked(id string, ss *session) {
	delete(s.byID, id)
	close(ss.done)
}

func (s *sessionStore) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
}

func (s *sessionStore) sweepLocked(now time.Time) {
	for id, ss := range s.byID {
		if s.expired(ss, now) {
			s.endLocked(id, ss)
		}
	}
}

func (s *sessionStore) endAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.byID {
		s.endLocked(id, ss)
	}
}

func (s *sessionStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// cookieID returns the session id r's cookie carries.
func cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

// BackgroundHeader marks a request the page makes on its own (a reload
// after an event or a reconnection): it does not count as the user's
// activity for the idle expiry.
const BackgroundHeader = "X-Earshot-Background"

// activity reports whether r counts as its user's activity: not the event
// stream, which a page keeps open unattended, nor the page's background
// requests, which events trigger all day on a busy tenant.
func activity(r *http.Request) bool {
	return r.URL.Path != control.Prefix+"/events" && r.Header.Get(BackgroundHeader) == ""
}

// Session implements control.Sessions: the live session of r's cookie.
func (w *Workspace) Session(r *http.Request) (control.Session, bool) {
	id, ok := cookieID(r)
	if !ok {
		return control.Session{}, false
	}
	ss, ok := w.sessions.get(id, w.now(), activity(r))
	if !ok {
		return control.Session{}, false
	}
	return control.Session{Principal: ss.p, CSRF: ss.csrf, Done: ss.done}, true
}

// setCookie sets (or, with id empty, clears) the session cookie. Secure
// when the request came over TLS: a cookie marked Secure on plain HTTP
// would never come back.
func setCookie(rw http.ResponseWriter, r *http.Request, id string, maxAge time.Duration) {
	c := &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if id == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
	}
	http.SetCookie(rw, c)
}
