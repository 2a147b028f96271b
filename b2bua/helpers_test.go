package b2bua

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// testClock is a clock the test moves by hand, so expiry and nonce ageing
// are checked without waiting.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// echoMedia is a Media whose sessions hand SDP back unchanged: the unit
// tests look at routing decisions, not at the media wire.
type echoMedia struct{}

func (echoMedia) NewSession(string, func()) (MediaSession, error) { return echoSession{}, nil }

type echoSession struct{}

// echoOffer is the SDP the echo media offers when earshot must offer itself:
// a minimal, valid audio offer (nobody listens at its address).
const echoOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

func (echoSession) Offer(_ int, sdp []byte) ([]byte, error)  { return sdp, nil }
func (echoSession) Answer(_ int, sdp []byte) ([]byte, error) { return sdp, nil }
func (echoSession) LocalOffer(int) ([]byte, error)           { return []byte(echoOffer), nil }
func (echoSession) Reoffer(int) ([]byte, error)              { return []byte(echoOffer), nil }
func (echoSession) Resume(int) ([]byte, error)               { return []byte(echoOffer), nil }
func (echoSession) SetSignalSource(int, netip.Addr) error    { return nil }
func (echoSession) Close() error                             { return nil }
func (echoSession) AddLeg(func(byte)) (MediaLeg, error)      { return &echoLeg{}, nil }
func (echoSession) Cue(int, Cue) error                       { return nil }
func (echoSession) AnswerLocal(_ int, sdp []byte) ([]byte, []byte, error) {
	return sdp, sdp, nil
}
func (echoSession) Play(int, Playback) error            { return nil }
func (echoSession) StopPlay(int) error                  { return nil }
func (echoSession) SetAgentLeg(int) error               { return nil }
func (echoSession) Mixable() bool                       { return true }
func (echoSession) OnDigit(int, func(digit byte)) error { return nil }
func (echoSession) WebRTCOffer(int) ([]byte, error)     { return []byte(echoOffer), nil }
func (echoSession) OnTransportFailed(func(int, string)) {}

// echoLeg is the supervisor-leg counterpart of echoSession.
type echoLeg struct{ mode Mode }

func (*echoLeg) ID() int                                { return 2 }
func (*echoLeg) AnswerOffer(sdp []byte) ([]byte, error) { return sdp, nil }
func (*echoLeg) Offer() ([]byte, error)                 { return []byte(echoOffer), nil }
func (*echoLeg) WebRTCOffer() ([]byte, error)           { return []byte(echoOffer), nil }
func (*echoLeg) TakeAnswer([]byte) error                { return nil }
func (*echoLeg) SetSignalSource(netip.Addr) error       { return nil }
func (l *echoLeg) Attach(m Mode) error                  { l.mode = m; return nil }
func (*echoLeg) Promote() error                         { return nil }
func (*echoLeg) Close() error                           { return nil }

// newTestServer builds a Server (without listeners) on the given clock.
func newTestServer(t testing.TB, cfg Config, clk *testClock) *Server {
	t.Helper()
	if cfg.Media == nil {
		cfg.Media = echoMedia{}
	}
	if cfg.DigestAlgorithms == nil {
		cfg.DigestAlgorithms = bothAlgs // the tests exercise both
	}
	if clk != nil {
		cfg.Now = clk.Now
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sipRequest parses a request from its start line and header lines, adding
// the mandatory headers a test did not give. It goes through sipgo's
// parser so that header types are those a real message would have.
func sipRequest(t testing.TB, method, ruri string, lines ...string) *sip.Request {
	t.Helper()
	return sipRequestBody(t, method, ruri, "", lines...)
}

func sipRequestBody(t testing.TB, method, ruri, body string, lines ...string) *sip.Request {
	t.Helper()
	defaults := []struct{ name, line string }{
		{"via", "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-unit"},
		{"from", "From: <sip:1001@example.com>;tag=from-tag"},
		{"to", "To: <sip:1001@example.com>"},
		{"call-id", "Call-ID: unit-call-1"},
		{"cseq", "CSeq: 1 " + method},
		{"max-forwards", "Max-Forwards: 70"},
	}
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	for _, d := range defaults {
		given := false
		for _, l := range lines {
			name, _, _ := strings.Cut(l, ":")
			if strings.EqualFold(strings.TrimSpace(name), d.name) {
				given = true
			}
		}
		if !given {
			b.WriteString(d.line + "\r\n")
		}
	}
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	msg, err := sip.ParseMessage([]byte(b.String()))
	if err != nil {
		t.Fatalf("parse %q: %v", b.String(), err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("parsed %T, want request", msg)
	}
	req.SetSource("127.0.0.2:5060")
	req.SetTransport("UDP")
	return req
}

// headerValues returns the values of every header called name.
func headerValues(hs []sip.Header, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Name(), name) {
			out = append(out, h.Value())
		}
	}
	return out
}

// waitNoCalls waits until s has forgotten every call (and freed its
// agents): the 200 to a BYE leaves before its call is forgotten.
func waitNoCalls(t testing.TB, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.ActiveCalls() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("calls left: %+v", s.Calls())
		}
	}
}
