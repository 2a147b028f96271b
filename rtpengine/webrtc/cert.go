package webrtc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	// The hash functions a=fingerprint may name, linked in for crypto.Hash.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// certValidity is how long an earshot certificate is valid. Peers check
// the certificate against the SDP's fingerprint, not against a CA or the
// clock; the period only has to cover the engine's lifetime.
const certValidity = 365 * 24 * time.Hour

// Certificate is earshot's DTLS identity: a self-signed ECDSA P-256
// certificate made when the engine starts, and its SHA-256 fingerprint
// for the SDP (RFC 8122). It is read-only once made and shared by every
// leg of the engine.
type Certificate struct {
	tls         tls.Certificate
	fingerprint string // "AB:CD:…", upper-case hex
}

// NewCertificate generates a fresh key pair and self-signed certificate.
func NewCertificate() (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webrtc: certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("webrtc: certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "earshot"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("webrtc: certificate: %w", err)
	}
	fp, _ := fingerprintOf(der, crypto.SHA256) // SHA-256 is always available
	return &Certificate{
		tls:         tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		fingerprint: fp,
	}, nil
}

// Fingerprint is the value of the certificate's a=fingerprint attribute,
// hash function first: "sha-256 AB:CD:…".
func (c *Certificate) Fingerprint() string { return "sha-256 " + c.fingerprint }

// Fingerprint is a peer's a=fingerprint (RFC 8122 §5): the hash function
// and the colon-separated hex digest of its certificate.
type Fingerprint struct {
	hash   crypto.Hash
	digest string // upper-case hex with colons
}

// hashNames maps the hash function names of RFC 8122 (as registered by
// IANA's "Hash Function Textual Names") to Go's hashes. MD5 and MD2 are
// not accepted.
var hashNames = map[string]crypto.Hash{
	"sha-1":   crypto.SHA1,
	"sha-224": crypto.SHA224,
	"sha-256": crypto.SHA256,
	"sha-384": crypto.SHA384,
	"sha-512": crypto.SHA512,
}

// ParseFingerprint parses the value of an a=fingerprint attribute.
func ParseFingerprint(v string) (Fingerprint, error) {
	name, digest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return Fingerprint{}, fmt.Errorf("%w: %q", ErrBadFingerprint, v)
	}
	h, ok := hashNames[strings.ToLower(name)]
	if !ok {
		return Fingerprint{}, fmt.Errorf("%w: hash function %q", ErrBadFingerprint, name)
	}
	digest = strings.ToUpper(strings.TrimSpace(digest))
	raw, err := hex.DecodeString(strings.ReplaceAll(digest, ":", ""))
	if err != nil || len(raw) != h.Size() {
		return Fingerprint{}, fmt.Errorf("%w: digest %q", ErrBadFingerprint, digest)
	}
	return Fingerprint{hash: h, digest: digest}, nil
}

// Valid reports whether f was parsed from an attribute.
func (f Fingerprint) Valid() bool { return f.digest != "" }

// String is f as an attribute value.
func (f Fingerprint) String() string {
	for name, h := range hashNames {
		if h == f.hash {
			return name + " " + f.digest
		}
	}
	return ""
}

// matches reports whether the DER certificate has fingerprint f.
func (f Fingerprint) matches(der []byte) bool {
	got, err := fingerprintOf(der, f.hash)
	return err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(f.digest)) == 1
}

// fingerprintOf is the upper-case, colon-separated hex digest of der.
func fingerprintOf(der []byte, h crypto.Hash) (string, error) {
	if !h.Available() {
		return "", ErrBadFingerprint
	}
	hh := h.New()
	hh.Write(der)
	sum := hh.Sum(nil)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String(), nil
}
