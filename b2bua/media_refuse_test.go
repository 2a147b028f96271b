package b2bua

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// statusErr is a media engine's error carrying a SIP status.
type statusErr int

func (e statusErr) Error() string  { return "media: status " + strconv.Itoa(int(e)) }
func (e statusErr) SIPStatus() int { return int(e) }

// failingMedia fails every session with err.
type failingMedia struct{ err error }

func (m failingMedia) NewSession(string, func()) (MediaSession, error) { return nil, m.err }

// TestMediaShortageRefusedForLoad: a call the media engine has no ports
// for is answered 503 with Retry-After and counted as refused for load
// (media); another media failure is answered with its own status and is
// not a load refusal.
func TestMediaShortageRefusedForLoad(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status string
		load   uint64
	}{
		{statusErr(503), "SIP/2.0 503 ", 1},
		{statusErr(488), "SIP/2.0 488 ", 0},
		{errors.New("disk on fire"), "SIP/2.0 500 ", 0},
	} {
		s := newTestServer(t, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy, Media: failingMedia{tc.err}}, nil)
		addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		h := newCallHarness(t, netip.MustParseAddrPort(addrs[0]))
		h.state = func() any { return s.Calls() }
		h.readDeadline(5 * time.Second)
		h.invite(1)
		h.send(h.caller, h.srv)
		var final []byte
		for final == nil {
			msg, _ := h.recv(h.caller, "SIP/2.0 ")
			if msg[8] != '1' {
				final = msg
			}
		}
		if !bytes.HasPrefix(final, []byte(tc.status)) {
			t.Fatalf("%v: answered\n%s\nwant %s", tc.err, final, tc.status)
		}
		if tc.load == 1 && len(header(final, "Retry-After")) == 0 {
			t.Fatalf("503 without Retry-After:\n%s", final)
		}
		if got := s.Stats().LoadRefused[LoadMedia]; got != tc.load {
			t.Fatalf("%v: %d refused for media, want %d", tc.err, got, tc.load)
		}
	}
}
