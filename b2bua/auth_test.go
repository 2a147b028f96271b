package b2bua

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// challengeFor returns the challenge of the given algorithm that a fresh
// 401 would carry.
func challengeFor(t testing.TB, a *digestAuth, realm, alg string, stale bool) *digest.Challenge {
	t.Helper()
	for _, h := range a.challenges("WWW-Authenticate", realm, stale) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("parse challenge %q: %v", h.Value(), err)
		}
		if c.Algorithm == alg {
			return c
		}
	}
	t.Fatalf("no %s challenge offered", alg)
	return nil
}

// answer builds a REGISTER carrying the credentials a phone computes for
// chal with user and password.
func answer(t testing.TB, chal *digest.Challenge, user, password string) *sip.Request {
	t.Helper()
	cred, err := digest.Digest(chal, digest.Options{
		Method: "REGISTER", URI: "sip:example.com", Username: user, Password: password,
		Cnonce: "0a4f113b", Count: 1,
	})
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	req := sipRequest(t, "REGISTER", "sip:example.com")
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	return req
}

func TestDigestVerifyAlgorithms(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			clk := newTestClock()
			a := newDigestAuth(clk.Now, bothAlgs)
			chal := challengeFor(t, a, "acme", alg, false)
			req := answer(t, chal, "1001", "s3cret")
			if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authOK {
				t.Fatalf("correct %s response: got %v, want authOK", alg, got)
			}
			if got := a.verify(req, "Authorization", "acme", "1001", "other"); got != authFailed {
				t.Errorf("wrong password: got %v, want authFailed", got)
			}
			if got := a.verify(req, "Authorization", "acme", "1002", "s3cret"); got != authFailed {
				t.Errorf("credentials of another user: got %v, want authFailed", got)
			}
		})
	}
}

func TestDigestVerifyRejects(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	good := challengeFor(t, a, "acme", "SHA-256", false)

	// A nonce earshot did not issue — signed by another process's key (a
	// restart), tampered, malformed — never authenticates. With the right
	// password the client gets a stale challenge (RFC 7616 §3.3), so a
	// phone that registered before a restart re-registers silently; with
	// a wrong one it fails.
	other := newDigestAuth(clk.Now, bothAlgs)
	foreign := challengeFor(t, other, "acme", "SHA-256", false)

	flip := []byte(good.Nonce)
	if flip[len(flip)-1] == '0' {
		flip[len(flip)-1] = '1'
	} else {
		flip[len(flip)-1] = '0'
	}

	tests := []struct {
		name  string
		nonce string
	}{
		{"foreign key", foreign.Nonce},
		{"tampered signature", string(flip)},
		{"not hex", strings.Repeat("z", len(good.Nonce))},
		{"short", good.Nonce[:20]},
		{"empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := *good
			c.Nonce = tc.nonce
			req := answer(t, &c, "1001", "s3cret")
			if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authStale {
				t.Fatalf("right password: got %v, want authStale", got)
			}
			req = answer(t, &c, "1001", "guess")
			if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authFailed {
				t.Fatalf("wrong password: got %v, want authFailed", got)
			}
		})
	}
}

func TestDigestVerifyStaleNonce(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	chal := challengeFor(t, a, "acme", "MD5", false)
	req := answer(t, chal, "1001", "s3cret")

	clk.Advance(nonceLifetime - time.Second)
	if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authOK {
		t.Fatalf("nonce just within its lifetime: got %v, want authOK", got)
	}
	clk.Advance(2 * time.Second)
	if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authStale {
		t.Fatalf("expired nonce, right password: got %v, want authStale", got)
	}
	// Stale is only for a right answer; a wrong one is still a failure.
	if got := a.verify(req, "Authorization", "acme", "1001", "wrong"); got != authFailed {
		t.Fatalf("expired nonce, wrong password: got %v, want authFailed", got)
	}
}

func TestDigestVerifyMissing(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	if got := a.verify(sipRequest(t, "REGISTER", "sip:example.com"), "Authorization", "acme", "1001", "s3cret"); got != authMissing {
		t.Fatalf("no Authorization: got %v, want authMissing", got)
	}
	chal := challengeFor(t, a, "globex", "SHA-256", false)
	req := answer(t, chal, "1001", "s3cret")
	if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authMissing {
		t.Fatalf("credentials for another realm: got %v, want authMissing", got)
	}
	// Credentials in the other header do not count.
	if got := a.verify(req, "Proxy-Authorization", "globex", "1001", "s3cret"); got != authMissing {
		t.Fatalf("credentials in Authorization checked as Proxy-Authorization: got %v", got)
	}
}

func TestDigestVerifyRefusesAuthInt(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	chal := challengeFor(t, a, "acme", "SHA-256", false)
	chal.QOP = []string{"auth-int"}
	cred, err := digest.Digest(chal, digest.Options{
		Method: "REGISTER", URI: "sip:example.com", Username: "1001", Password: "s3cret",
		Cnonce: "0a4f113b", Count: 1,
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("")), nil },
	})
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	if cred.QOP != "auth-int" {
		t.Fatalf("test setup: qop %q", cred.QOP)
	}
	req := sipRequest(t, "REGISTER", "sip:example.com")
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authFailed {
		t.Fatalf("qop=auth-int: got %v, want authFailed", got)
	}
}

func TestDigestVerifyUnknownAlgorithm(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	chal := challengeFor(t, a, "acme", "SHA-256", false)
	chal.Algorithm = "SHA-512"
	req := answer(t, chal, "1001", "s3cret")
	if got := a.verify(req, "Authorization", "acme", "1001", "s3cret"); got != authFailed {
		t.Fatalf("algorithm not offered: got %v, want authFailed", got)
	}
}

func TestDigestChallenges(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	for _, stale := range []bool{false, true} {
		hs := a.challenges("Proxy-Authenticate", "acme", stale)
		if len(hs) != 2 {
			t.Fatalf("stale=%v: %d challenges, want 2", stale, len(hs))
		}
		var algs []string
		nonces := map[string]bool{}
		for _, h := range hs {
			if h.Name() != "Proxy-Authenticate" {
				t.Errorf("header name %q", h.Name())
			}
			c, err := digest.ParseChallenge(h.Value())
			if err != nil {
				t.Fatalf("parse %q: %v", h.Value(), err)
			}
			algs = append(algs, c.Algorithm)
			nonces[c.Nonce] = true
			if c.Realm != "acme" || !slices.Equal(c.QOP, []string{"auth"}) || c.Stale != stale {
				t.Errorf("challenge %q: realm %q qop %v stale %v", h.Value(), c.Realm, c.QOP, c.Stale)
			}
			if _, ok := a.nonceAge(c.Nonce); !ok {
				t.Errorf("nonce %q does not verify", c.Nonce)
			}
		}
		// MD5 first: widespread peers read only the first challenge.
		if !slices.Equal(algs, []string{"MD5", "SHA-256"}) {
			t.Errorf("algorithms %v, want [MD5 SHA-256]", algs)
		}
		if len(nonces) != 1 {
			t.Errorf("challenges of one response carry %d nonces, want 1", len(nonces))
		}
	}
}

func BenchmarkDigestVerify(b *testing.B) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, bothAlgs)
	for _, alg := range []string{"MD5", "SHA-256"} {
		b.Run(alg, func(b *testing.B) {
			req := answer(b, challengeFor(b, a, "acme", alg, false), "1001", "s3cret")
			b.ReportAllocs()
			for b.Loop() {
				if a.verify(req, "Authorization", "acme", "1001", "s3cret") != authOK {
					b.Fatal("verify failed")
				}
			}
		})
	}
}

var bothAlgs = []string{"MD5", "SHA-256"}

// TestDigestAlgorithmsConfigured: only the configured algorithms are
// challenged, in order, and an answer with another one is refused even
// when its digest is right (no downgrade).
func TestDigestAlgorithmsConfigured(t *testing.T) {
	clk := newTestClock()
	a := newDigestAuth(clk.Now, []string{"MD5"})
	hs := a.challenges("WWW-Authenticate", "acme", false)
	if len(hs) != 1 || !strings.Contains(hs[0].Value(), "algorithm=MD5") {
		t.Fatalf("MD5-only challenges: %v", hs)
	}
	sha := newDigestAuth(clk.Now, []string{"SHA-256"})
	sha.key = a.key // same nonces
	req := sipRequest(t, "REGISTER", "sip:acme.example")
	authorizeWith(t, req, sha.challenges("WWW-Authenticate", "acme", false)[0], "1001", "pw")
	if got := sha.verify(req, "Authorization", "acme", "1001", "pw"); got != authOK {
		t.Fatalf("SHA-256 answer to SHA-256 challenge: %v", got)
	}
	if got := a.verify(req, "Authorization", "acme", "1001", "pw"); got != authFailed {
		t.Errorf("SHA-256 answer where only MD5 is offered: %v, want failed", got)
	}
}

// authorizeWith answers one challenge header for user.
func authorizeWith(t testing.TB, req *sip.Request, h sip.Header, user, password string) {
	t.Helper()
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: req.Recipient.String(),
		Username: user, Password: password, Cnonce: "c0ffee", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
}
