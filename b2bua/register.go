package b2bua

import (
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// onRegister authenticates a REGISTER and updates the user's bindings.
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil || req.CallID() == nil || req.CSeq() == nil {
		s.respond(tx, req, 400, "Bad Request", nil)
		return
	}
	td := s.dir.tenantForDomain(to.Address.Host)
	if fu, ok := s.flows.user(req.Source()); ok && isWebSocket(req.Transport()) {
		// A signed-in page registers its user in its own tenant.
		td = s.dir.tenants[fu.Tenant]
	}
	if td == nil {
		s.respond(tx, req, 404, "Not Found", nil)
		return
	}
	u := s.authenticateUser(req, tx, td, to.Address.User)
	if u == nil {
		return
	}
	bindings, rerr := s.reg.update(td.name, u.Extension, req)
	if rerr != nil {
		s.respond(tx, req, rerr.status, rerr.reason, nil, rerr.headers...)
		return
	}
	now := s.cfg.Now()
	hdrs := []sip.Header{sip.NewHeader("Date", now.UTC().Format(time.RFC1123))}
	for _, b := range bindings {
		ch := &sip.ContactHeader{Address: *b.uri.Clone(), Params: sip.NewParams()}
		ch.Params.Add("expires", strconv.Itoa(int(b.expires.Sub(now).Round(time.Second).Seconds())))
		hdrs = append(hdrs, ch)
	}
	s.log.Debug("registered", "tenant", td.name, "user", u.Extension, "contacts", len(bindings))
	s.respond(tx, req, 200, "OK", nil, hdrs...)
	if len(bindings) > 0 {
		s.router.Registered(td.name, u.Extension) // an agent who may take waiting calls
	}
}

// Registered reports whether a user of tenant has a live registration.
func (s *Server) Registered(tenant, ext string) bool {
	return s.reg.registered(tenant, ext)
}

// authenticateUser checks a request's digest credentials for user ext of
// tenant td, answering it (401 with a challenge, or 403) and returning
// nil unless they are right. Unknown users are challenged like known ones
// and then refused, so a scan cannot tell which extensions exist.
func (s *Server) authenticateUser(req *sip.Request, tx sip.ServerTransaction, td *tenantDir, ext string) *User {
	u, known := td.users[ext]
	password := ""
	if known {
		password = u.Password
	}
	switch s.verifyUser(req, td.name, ext, password) {
	case authMissing:
		s.respond(tx, req, 401, "Unauthorized", nil, s.auth.challenges("WWW-Authenticate", td.name, false)...)
		return nil
	case authStale:
		s.respond(tx, req, 401, "Unauthorized", nil, s.auth.challenges("WWW-Authenticate", td.name, true)...)
		return nil
	case authFailed:
		s.authFailed(req)
		s.respond(tx, req, 403, "Forbidden", nil)
		return nil
	}
	if !known {
		s.authFailed(req)
		s.respond(tx, req, 403, "Forbidden", nil)
		return nil
	}
	return u
}

// verifyUser checks a request's credentials for user ext of tenant: a
// request on a WebSocket flow a signed-in page of that very user opened
// needs none (websocket.go); any other needs digest.
func (s *Server) verifyUser(req *sip.Request, tenant, ext, password string) authResult {
	if isWebSocket(req.Transport()) {
		if fu, ok := s.flows.user(req.Source()); ok && fu.Tenant == tenant && fu.Extension == ext {
			return authOK
		}
	}
	return s.auth.verify(req, "Authorization", tenant, ext, password)
}
