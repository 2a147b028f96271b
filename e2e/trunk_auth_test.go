package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// carrierAuth plays a carrier that demands digest authentication on every
// INVITE: it challenges the first with code (401 or 407), then answers the
// retry if its credentials are right and refuses it with 403 otherwise.
type carrierAuth struct {
	code     int
	user     string
	password string
}

// verdict is what the carrier saw of one call attempt.
type verdict struct {
	invites int            // INVITEs received
	problem string         // why the credentials were refused; "" if accepted
	s       *phone.Session // the answered call, when accepted
}

// serve handles one call on carrier c and reports what happened.
func (ca carrierAuth) serve(t *testing.T, c *phone.Phone) <-chan verdict {
	out := make(chan verdict, 1)
	challengeHdr, credHdr := "WWW-Authenticate", "Authorization"
	if ca.code == 407 {
		challengeHdr, credHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	chal := &digest.Challenge{Realm: "carrier.test", Nonce: hex.EncodeToString(nonce), Algorithm: "MD5", QOP: []string{"auth"}}
	go func() {
		defer close(out)
		var v verdict
		in, err := c.Next(ctx(t))
		if err != nil {
			return
		}
		v.invites++
		if h := in.Req.GetHeader(credHdr); h != nil {
			v.problem = "first INVITE already carries " + credHdr
			_ = in.Reject(400, "Bad Request")
			out <- v
			return
		}
		_ = in.RejectWith(ca.code, "Authentication Required", sip.NewHeader(challengeHdr, chal.String()))
		if in, err = c.Next(ctx(t)); err != nil {
			v.problem = "no INVITE after the challenge"
			out <- v
			return
		}
		v.invites++
		if v.problem = ca.check(in.Req, credHdr, chal); v.problem != "" {
			_ = in.Reject(403, "Forbidden")
			out <- v
			return
		}
		_ = in.Ring()
		if v.s, err = in.Answer(); err != nil {
			v.problem = "answer: " + err.Error()
		}
		out <- v
	}()
	return out
}

// check verifies the retried INVITE's credentials against the challenge.
func (ca carrierAuth) check(req *sip.Request, credHdr string, chal *digest.Challenge) string {
	h := req.GetHeader(credHdr)
	if h == nil {
		return "retry without " + credHdr
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		return fmt.Sprintf("%s %q: %v", credHdr, h.Value(), err)
	}
	if cred.Username != ca.user || cred.Realm != chal.Realm || cred.Nonce != chal.Nonce {
		return fmt.Sprintf("%s names user %q realm %q nonce %q", credHdr, cred.Username, cred.Realm, cred.Nonce)
	}
	if want := req.Recipient.String(); cred.URI != want {
		return fmt.Sprintf("digest uri %q is not the Request-URI %q", cred.URI, want)
	}
	want, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: cred.URI, Username: ca.user,
		Password: ca.password, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil {
		return err.Error()
	}
	if cred.Response != want.Response {
		return "wrong digest response (password)"
	}
	return ""
}

// carrierPhone is a carrier's phone on the trunk's address sending tone,
// with cfg's trunk sending its outbound calls to it.
func carrierPhone(t *testing.T, cfg *config.Config, tone float64) *phone.Phone {
	t.Helper()
	carrier, err := phone.New(phone.Config{IP: "127.0.0.2", User: "carrier", Tone: tone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(carrier.Close)
	cfg.Tenants[0].Trunks[0].Outbound = carrier.Addr()
	return carrier
}

// carrierEnv starts earshot with its trunk pointing at a carrier phone on
// the trunk's address, with the given trunk credentials.
func carrierEnv(t *testing.T, user, password string) (*env, *phone.Phone) {
	t.Helper()
	cfg := testConfig(t)
	carrier := carrierPhone(t, cfg, toneCustomer)
	tr := &cfg.Tenants[0].Trunks[0]
	tr.Username, tr.Password = user, password
	return start(t, cfg), carrier
}

// TestOutboundCallAnswersCarrierChallenge has an agent dial out through a
// carrier that challenges with 401 (WWW-Authenticate) or 407
// (Proxy-Authenticate): earshot must retry with the trunk's credentials and
// the call must connect with audio both ways.
func TestOutboundCallAnswersCarrierChallenge(t *testing.T) {
	for _, code := range []int{401, 407} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			e, carrier := carrierEnv(t, "earshot-trunk", "s3cret")
			agent := e.agent("1001", "127.0.0.3", toneAgent)
			got := carrierAuth{code: code, user: "earshot-trunk", password: "s3cret"}.serve(t, carrier)
			as, err := agent.Call(ctx(t), "0049301234567")
			if err != nil {
				v := <-got
				t.Fatalf("outbound call: %v (carrier saw %d INVITEs: %s)", err, v.invites, v.problem)
			}
			v := <-got
			if v.problem != "" || v.s == nil || v.invites != 2 {
				t.Fatalf("carrier: %d INVITEs, problem %q", v.invites, v.problem)
			}
			expectHears(t, "carrier", v.s, toneAgent)
			expectHears(t, "agent", as, toneCustomer)
			if err := as.Hangup(ctx(t)); err != nil {
				t.Fatal(err)
			}
			waitEnded(t, "carrier", v.s)
			waitActive(t, e, 0)
		})
	}
}

// TestOutboundCallWrongCarrierCredentials: the carrier refuses earshot's
// credentials with 403 and the agent gets that 403.
func TestOutboundCallWrongCarrierCredentials(t *testing.T) {
	e, carrier := carrierEnv(t, "earshot-trunk", "not-the-password")
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	got := carrierAuth{code: 407, user: "earshot-trunk", password: "s3cret"}.serve(t, carrier)
	_, err := agent.Call(ctx(t), "0049301234567")
	v := <-got
	// The carrier saw the retry and found the password wrong, so the 403
	// is the carrier's, not earshot refusing the agent.
	if v.invites != 2 || v.problem != "wrong digest response (password)" {
		t.Fatalf("carrier: %d INVITEs, problem %q; want 2 and a wrong password", v.invites, v.problem)
	}
	if got := statusOf(err); got != 403 {
		t.Fatalf("agent's call ended with %v, want the carrier's 403", err)
	}
	waitActive(t, e, 0)
}

// TestTransferThroughChallengingCarrier: an agent transfers the customer
// to an external number through a trunk whose carrier challenges every
// INVITE; earshot answers the challenge with the trunk's credentials, the
// carrier's phone answers and hears the customer, and the customer hears
// it on one continuous stream.
func TestTransferThroughChallengingCarrier(t *testing.T) {
	const toneCarrier = 2300.0
	cfg := testConfig(t)
	carrier := carrierPhone(t, cfg, toneCarrier)
	tr := &cfg.Tenants[0].Trunks[0]
	tr.Username, tr.Password = "earshot-trunk", "s3cret"
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cs, as := customerToAgent(t, e.customer(), agent)
	verdicts := carrierAuth{code: 407, user: "earshot-trunk", password: "s3cret"}.serve(t, carrier)
	cs.RTP.ResetContinuity()
	if code := refer(t, e, "127.0.0.13", as, "0049301234567"); code != 202 {
		t.Fatalf("REFER to an external number: %d", code)
	}
	v := <-verdicts
	if v.problem != "" || v.s == nil || v.invites != 2 {
		t.Fatalf("carrier: %d INVITEs, problem %q", v.invites, v.problem)
	}
	waitEnded(t, "the transferring agent", as)
	cs.RTP.Clear()
	expectHears(t, "customer hears the external party", cs, toneCarrier)
	expectHears(t, "external party hears the customer", v.s, toneCustomer)
	strictContinuity(t, "customer", cs)
	_ = cs.Hangup(ctx(t))
	waitEnded(t, "external party", v.s)
	waitActive(t, e, 0)
}
