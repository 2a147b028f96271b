package b2bua

import (
	"github.com/emiago/sipgo/sip"
)

// Refusal is why a request was refused for security reasons: the label of
// earshot_sip_refused_total and the reason= field of the security log line.
type Refusal string

// Refusals.
const (
	// RefusedDialogPeer: a request inside a dialog (re-INVITE, UPDATE,
	// BYE, ACK, …) from an address that is not the dialog's peer — a
	// hijack attempt with a known Call-ID and tags. Answered 403; an ACK
	// is dropped.
	RefusedDialogPeer Refusal = "dialog_peer"
	// RefusedAuth: a digest authentication failed (wrong password, user or
	// algorithm). Answered 403; counted toward a ban (Limits).
	RefusedAuth Refusal = "auth_failed"
	// RefusedRateLimit: a source sent more INVITE, REGISTER or OPTIONS
	// than its rate (Limits); dropped unparsed.
	RefusedRateLimit Refusal = "rate_limit"
	// RefusedBanned: a source banned after repeated authentication
	// failures; what it sends is dropped, its TCP connections closed.
	RefusedBanned Refusal = "banned"
	// RefusedConnections: a TCP/TLS connection past the per-source cap,
	// or one that sent no complete header block in time.
	RefusedConnections Refusal = "connections"
)

// Refusals lists every reason, for metrics that export each one.
func Refusals() []Refusal {
	return []Refusal{RefusedDialogPeer, RefusedAuth, RefusedRateLimit, RefusedBanned, RefusedConnections}
}

// authFailed records a failed digest authentication: counted, logged for
// fail2ban, and toward the source's ban (guard.go).
func (s *Server) authFailed(req *sip.Request) {
	s.securityRefuse(RefusedAuth, req, "")
	s.guard.authFailed(req.Source())
}

// securityRefuse counts a refused request and logs it in the one-line format that
// fail2ban and similar tools match (docs/security.md gives the pattern):
//
//	level=WARN msg="security: request refused" reason=dialog_peer src=192.0.2.7 method=INVITE call_id=…
//
// Only the source address, the method and the call id are logged, never
// the message.
func (s *Server) securityRefuse(reason Refusal, req *sip.Request, callID string) {
	s.stats.refuse(reason)
	s.log.Warn("security: request refused", "reason", string(reason),
		"src", sourceIP(req.Source()).String(), "method", string(req.Method), "call_id", callID)
}
