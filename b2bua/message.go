package b2bua

import (
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// onMessage answers a MESSAGE (RFC 3428) sent to earshot. earshot is no
// messaging server: it takes the message and delivers it to nobody, so a
// phone that sends one (a reply to a notification, a chat typed at the
// service address) gets 200 instead of an error it might show its user.
// Only a party that could place a call is answered so: a trunk by its
// source address, or a user of a tenant who authenticates with digest as
// for an INVITE (401 challenge). Anyone else gets 403, so that earshot
// cannot be used to probe for users or to relay text.
func (s *Server) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	from := req.From()
	if from == nil || req.To() == nil || req.CallID() == nil {
		s.respond(tx, req, 400, "Bad Request", nil)
		return
	}
	if src, err := netip.ParseAddrPort(req.Source()); err == nil && len(s.dir.trunksFor(src.Addr())) > 0 {
		s.takeMessage(req, tx, "trunk")
		return
	}
	td := s.dir.tenantForDomain(from.Address.Host)
	if td == nil {
		s.respond(tx, req, 403, "Forbidden", nil)
		return
	}
	if u := s.authenticateUser(req, tx, td, from.Address.User); u != nil {
		s.takeMessage(req, tx, u.Extension)
	}
}

// takeMessage answers an admitted MESSAGE: 200, and the text goes nowhere.
func (s *Server) takeMessage(req *sip.Request, tx sip.ServerTransaction, from string) {
	s.log.Debug("message taken and not delivered", "from", from, "bytes", len(req.Body()))
	s.respond(tx, req, 200, "OK", nil)
}
