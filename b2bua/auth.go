package b2bua

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceLifetime bounds how long a challenge's nonce is accepted; an older
// one is answered with a fresh challenge marked stale (RFC 3261 §22.4).
const nonceLifetime = 5 * time.Minute

// digestAuth issues and verifies digest challenges (RFC 3261 §22, with
// SHA-256 per RFC 8760). Nonces are stateless: a timestamp signed with a
// per-process key, so no table grows with hostile traffic.
type digestAuth struct {
	key  [32]byte
	now  func() time.Time
	algs []string // challenged, in order; the only ones accepted
}

func newDigestAuth(now func() time.Time, algs []string) *digestAuth {
	a := &digestAuth{now: now, algs: algs}
	_, _ = rand.Read(a.key[:])
	return a
}

func (a *digestAuth) nonce() string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(a.now().UnixNano()))
	m := hmac.New(sha256.New, a.key[:])
	m.Write(ts[:])
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(m.Sum(nil)[:16])
}

// nonceAge verifies a nonce's signature and returns its age.
func (a *digestAuth) nonceAge(n string) (time.Duration, bool) {
	raw, err := hex.DecodeString(n)
	if err != nil || len(raw) != 8+16 {
		return 0, false
	}
	m := hmac.New(sha256.New, a.key[:])
	m.Write(raw[:8])
	if !hmac.Equal(raw[8:], m.Sum(nil)[:16]) {
		return 0, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	return a.now().Sub(issued), true
}

// challenges returns WWW-Authenticate (or Proxy-Authenticate) headers
// offering MD5 and SHA-256 (RFC 8760). MD5 goes first although RFC 8760
// §2.4 orders by preference: common peers (sipp 3.6, baresip 1.0) read
// only the first challenge and give up on SHA-256, while phones that
// support SHA-256 still find it in the second.
func (a *digestAuth) challenges(header, realm string, stale bool) []sip.Header {
	n := a.nonce()
	var hs []sip.Header
	for _, alg := range a.algs {
		c := digest.Challenge{Realm: realm, Nonce: n, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		hs = append(hs, sip.NewHeader(header, c.String()))
	}
	return hs
}

// authResult is the outcome of checking a request's credentials.
type authResult int

const (
	authMissing authResult = iota // no credentials for this realm: challenge
	authStale                     // right response on an expired or unknown nonce: challenge stale
	authOK
	authFailed // wrong password, user or algorithm: 403
)

// verify checks the request's Authorization (or Proxy-Authorization)
// header for user against password.
func (a *digestAuth) verify(req *sip.Request, header, realm, user, password string) authResult {
	for _, h := range req.GetHeaders(header) {
		cred, err := digest.ParseCredentials(h.Value())
		if err != nil || cred.Realm != realm {
			continue
		}
		if cred.Username != user {
			return authFailed
		}
		alg := strings.ToUpper(cred.Algorithm)
		if alg == "" {
			alg = "MD5" // RFC 2617: an absent algorithm means MD5
		}
		if !slices.Contains(a.algs, alg) {
			return authFailed
		}
		// A nonce earshot did not issue — or issued before a restart,
		// which changes the key — is not a failure when the response is
		// right for it: the client gets a fresh challenge marked stale
		// (RFC 7616 §3.3) and retries without asking its user. A wrong
		// response is a failure whatever the nonce.
		age, known := a.nonceAge(cred.Nonce)
		chal := &digest.Challenge{Realm: realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
		if cred.QOP != "" {
			chal.QOP = []string{cred.QOP}
		}
		if cred.QOP != "" && cred.QOP != "auth" {
			return authFailed
		}
		want, err := digest.Digest(chal, digest.Options{
			Method:   string(req.Method),
			URI:      cred.URI,
			Username: user,
			Password: password,
			Cnonce:   cred.Cnonce,
			Count:    cred.Nc,
		})
		if err != nil {
			return authFailed
		}
		if subtle.ConstantTimeCompare([]byte(want.Response), []byte(cred.Response)) != 1 {
			return authFailed
		}
		if !known || age > nonceLifetime || age < -time.Minute {
			return authStale
		}
		return authOK
	}
	return authMissing
}
