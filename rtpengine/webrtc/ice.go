package webrtc

import (
	"crypto/rand"
	"fmt"
	"net/netip"

	"github.com/pion/stun/v4"
)

// Credentials are one side's ICE username fragment and password
// (a=ice-ufrag, a=ice-pwd; RFC 8839 §5.4).
type Credentials struct {
	Ufrag string
	Pwd   string
}

// iceChars are the characters of ice-char (RFC 8839 §5.4): ALPHA / DIGIT
// / "+" / "/".
const iceChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

// NewCredentials returns fresh random credentials: a 16-character ufrag
// and a 32-character password (RFC 8445 asks for at least 24 and 128
// bits of randomness; these carry 96 and 192).
func NewCredentials() Credentials {
	return Credentials{Ufrag: randomICE(16), Pwd: randomICE(32)}
}

func randomICE(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	for i := range b {
		b[i] = iceChars[int(b[i])%len(iceChars)]
	}
	return string(b)
}

// Validate checks the lengths and characters RFC 8839 §5.4 allows: a
// ufrag of 4–256 and a password of 22–256 ice-chars.
func (c Credentials) Validate() error {
	if len(c.Ufrag) < 4 || len(c.Ufrag) > 256 || !iceString(c.Ufrag) {
		return fmt.Errorf("%w: ice-ufrag %q", ErrBadCredentials, c.Ufrag)
	}
	if len(c.Pwd) < 22 || len(c.Pwd) > 256 || !iceString(c.Pwd) {
		return fmt.Errorf("%w: ice-pwd of %d characters", ErrBadCredentials, len(c.Pwd))
	}
	return nil
}

func iceString(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// STUNResult is what HandleSTUN made of a datagram.
type STUNResult uint8

// The outcomes of HandleSTUN.
const (
	// STUNDropped: not an authenticated binding request; nothing was sent.
	STUNDropped STUNResult = iota
	// STUNAnswered: a valid check, answered; the selected address stays.
	STUNAnswered
	// STUNSelected: a valid check, answered, and its source is now the
	// peer's address (the first valid check, or a nomination).
	STUNSelected
)

// HandleSTUN answers a binding request received from src (see doc.go): it
// checks USERNAME, MESSAGE-INTEGRITY and FINGERPRINT, sends a success
// response carrying XOR-MAPPED-ADDRESS = src, and selects src as the
// peer's address when it is the first valid check or carries
// USE-CANDIDATE (Config.OnSelect is called then, before the answer is
// sent). The first selection starts the DTLS handshake. It runs on
// the receive loop and never blocks. It allocates (a check arrives every
// few seconds, not per media packet).
func (t *Transport) HandleSTUN(pkt []byte, src netip.AddrPort) STUNResult {
	if t.isClosed() {
		return STUNDropped
	}
	m := &stun.Message{Raw: append([]byte(nil), pkt...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingRequest {
		return STUNDropped
	}
	var user stun.Username
	if err := user.GetFrom(m); err != nil || string(user) != t.username {
		return STUNDropped
	}
	if err := t.integrity.Check(m); err != nil {
		return STUNDropped
	}
	if m.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(m); err != nil {
			return STUNDropped
		}
	}
	resp, err := stun.Build(
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: src.Addr().AsSlice(), Port: int(src.Port())},
		t.integrity,
		stun.Fingerprint,
	)
	if err != nil {
		return STUNDropped
	}
	result := STUNAnswered
	if cur := t.peer.Load(); cur == nil || (*cur != src && m.Contains(stun.AttrUseCandidate)) {
		// Selected before the answer leaves, so that the peer's DTLS
		// and media, which follow the answer, find it in place.
		result = STUNSelected
		t.peer.Store(&src)
		if t.cfg.OnSelect != nil {
			t.cfg.OnSelect(src)
		}
		t.startOnce.Do(t.startHandshake)
	}
	if err := t.cfg.Send(resp.Raw, src); err != nil {
		return STUNDropped
	}
	return result
}
