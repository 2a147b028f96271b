package control

import (
	"context"
	"crypto/subtle"
	"net/http"
)

// CSRFHeader is the header a request authenticated by a session cookie
// must carry on every state-changing method, holding the session's token.
const CSRFHeader = "X-CSRF-Token"

// Session is a signed-in browser as Sessions reports it.
type Session struct {
	Principal Principal
	// CSRF is the token state-changing requests must echo in CSRFHeader.
	CSRF string
	// Done is closed when the session ends (sign-out or expiry); event
	// streams opened by the session end with it.
	Done <-chan struct{}
}

// Sessions authenticates browsers by cookie. The workspace (control/web)
// implements it; control only consults it, so the API knows nothing of
// cookies, sign-in or expiry.
type Sessions interface {
	// Session returns the live session r's cookie names, if any. It may
	// extend the session's idle expiry.
	Session(r *http.Request) (Session, bool)
}

type sessionDoneKey struct{}

// sessionDone is the Done channel of the session that authenticated the
// request behind ctx; nil for bearer tokens (never closed).
func sessionDone(ctx context.Context) <-chan struct{} {
	done, _ := ctx.Value(sessionDoneKey{}).(<-chan struct{})
	return done
}

// safeMethod reports whether a method changes nothing (RFC 9110 §9.2.1):
// those need no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticate finds the caller of r: a bearer token first, then a session
// cookie. A cookie-authenticated state-changing request must carry the
// session's CSRF token; without it the answer is 403 (ok false, status
// set). The returned request carries the session's Done channel.
func (s *Service) authenticate(r *http.Request) (p Principal, out *http.Request, status int, detail string) {
	if p, ok := s.auth.principal(r); ok {
		return p, r, 0, ""
	}
	if s.sessions != nil {
		if sess, ok := s.sessions.Session(r); ok {
			if !safeMethod(r.Method) {
				got := r.Header.Get(CSRFHeader)
				if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
					return Principal{}, r, http.StatusForbidden, "missing or wrong " + CSRFHeader + " header"
				}
			}
			return sess.Principal, r.WithContext(context.WithValue(r.Context(), sessionDoneKey{}, sess.Done)), 0, ""
		}
	}
	return Principal{}, r, http.StatusUnauthorized, "a valid bearer token or session is required"
}
