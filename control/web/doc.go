// Package web is earshot's browser workspace: the supervisor's and the
// agent's pages, served by earshot itself at / on the HTTP listener, with
// the sign-in that gives a browser a session.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no
// framework, no build step). It reads and changes everything through the
// control API (/api/v1), authenticated by the session cookie this package
// issues, and follows the API's event stream: lists are loaded once and
// events applied one by one.
//
// # Sessions
//
// Sign-in takes an extension (ext, or ext@domain when extensions repeat
// across tenants) and the user's SIP password, and sets an HttpOnly,
// SameSite=Strict cookie (Secure over TLS) naming a random 256-bit session
// id. Each session has its own CSRF token, which the page reads from
// GET /auth/me and sends in X-CSRF-Token on every state-changing request;
// the control package checks it through the control.Sessions hook. A
// session ends on sign-out, after an idle period without requests, or at
// an absolute age, whichever comes first; its event streams end with it.
// Sessions live in memory only: a restart signs everyone out.
//
// # Concurrency
//
// Handler is safe for concurrent use. The session table and the per-source
// failure counts are guarded by one mutex each and bounded in size. One
// goroutine, owned by the Workspace and stopped by Close, ends expired
// sessions once a minute so that their streams end too.
package web
