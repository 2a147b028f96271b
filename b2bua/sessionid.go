package b2bua

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// RFC 7989 Session-ID: an end-to-end identifier of a call, the same on
// every leg, so that an SBC's logs, a carrier's CDR and earshot's call
// table name one call alike. earshot passes the caller's on to every leg
// it creates (to agents, supervisors, the trunk) and generates one when
// the caller sent none; the call table shows it beside each leg's SIP
// Call-ID.

// nilUUID is the remote UUID of a Session-ID whose far end is not known
// yet (RFC 7989 §5).
const nilUUID = "00000000000000000000000000000000"

// sessionID is the Session-ID header value for a call from req: the
// caller's own when it is well formed (a 32-hex-digit UUID, optionally
// with a remote parameter of the same form), otherwise a new UUID of
// earshot's with the nil remote UUID.
func sessionID(req *sip.Request) string {
	if h := req.GetHeader("Session-ID"); h != nil {
		v := strings.TrimSpace(h.Value())
		local, params, _ := strings.Cut(v, ";")
		if uuidHex(local) && validSessionParams(params) {
			return strings.ToLower(v)
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return hex.EncodeToString(b[:]) + ";remote=" + nilUUID
}

// uuidHex reports whether s is a UUID as Session-ID writes it: 32
// hexadecimal digits, no hyphens.
func uuidHex(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// validSessionParams accepts nothing, or remote=<uuid> with other generic
// parameters of bounded size.
func validSessionParams(params string) bool {
	if params == "" {
		return true
	}
	if len(params) > 256 {
		return false
	}
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(name, "remote") && !uuidHex(value) {
			return false
		}
		if name == "" || strings.ContainsAny(p, " ,\r\n") {
			return false
		}
	}
	return true
}
