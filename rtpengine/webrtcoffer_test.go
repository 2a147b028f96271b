package rtpengine

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/rtpengine/webrtc"
	"github.com/pion/sdp/v3"
)

// TestWebRTCOfferToBrowser: a SIP phone's offer goes to a browser in its
// WebRTC form — same o= line, ICE-lite, fingerprint, actpass, rtcp-mux,
// mid and BUNDLE — the browser's WebRTC answer reaches the phone as plain
// RTP/AVP, media flows both ways, and a re-offer without SDP on the
// browser's leg is the WebRTC form again.
func TestWebRTCOfferToBrowser(t *testing.T) {
	e := testEngine(t, nil, nil)
	ph, p := newPhone(t), newRawPeer(t)
	s, err := e.NewSession("to-browser", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	plain, err := s.Offer(0, ph.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	offer, err := s.WebRTCOffer(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m=audio " + strings.Fields(string(plain[bytes.Index(plain, []byte("m=audio ")):]))[1] + " UDP/TLS/RTP/SAVPF 0 8 101\r\n",
		"a=ice-lite\r\n", "a=group:BUNDLE 0\r\n", "a=mid:0\r\n", "a=setup:actpass\r\n", "a=rtcp-mux\r\n", "a=fingerprint:sha-256 ",
		"typ host\r\n", originLine(t, plain)} {
		if !bytes.Contains(offer, []byte(want)) {
			t.Fatalf("WebRTC offer lacks %q:\n%s", want, offer)
		}
	}
	answer, err := s.Answer(1, p.sdp("", "active"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(answer, []byte(" RTP/AVP ")) || bytes.Contains(answer, []byte("a=ice")) || bytes.Contains(answer, []byte("fingerprint")) {
		t.Fatalf("the phone got a WebRTC answer:\n%s", answer)
	}
	dst := earshotRTP(s, 1)
	p.connect(offer, dst)
	waitFor(t, func() bool { return s.Snapshot().Legs[1].Transport == "connected" })

	send(t, ph.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 160, 7, make([]byte, 160)))
	got, err := p.tr.UnprotectRTP(recvKind(t, p, webrtc.KindRTP))
	if err != nil || header(t, got).PayloadType != 0 {
		t.Fatalf("browser: %v", err)
	}
	if err := p.tr.WriteRTP(rtpPacket(t, 0, 1, 160, 5, make([]byte, 160)), dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := recv(t, ph.rtp); header(t, got).PayloadType != 0 {
		t.Fatal("phone got no plain RTP from the browser")
	}
	again, err := s.Reoffer(1)
	if err != nil || !bytes.Equal(again, offer) {
		t.Fatalf("re-offer to the browser (%v):\n%s", err, again)
	}
}

// TestWebRTCOfferPlainAnswer: the offer went to a browser and a SIP phone
// at once; the phone answered: the leg is plain RTP, with no transport.
func TestWebRTCOfferPlainAnswer(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s, err := e.NewSession("fork", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebRTCOffer(1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, b.sdp("")); err != nil {
		t.Fatal(err)
	}
	if s.Snapshot().Legs[1].Transport != "" {
		t.Fatal("a plain answer left a WebRTC transport")
	}
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 160, 7, make([]byte, 160)))
	recv(t, b.rtp)
	if again, _ := s.Reoffer(1); bytes.Contains(again, []byte("SAVPF")) {
		t.Fatalf("re-offer to the phone is WebRTC's:\n%s", again)
	}
}

// TestWebRTCOfferNone: no offer made on the leg yet.
func TestWebRTCOfferNone(t *testing.T) {
	e := testEngine(t, nil, nil)
	s, err := e.NewSession("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.WebRTCOffer(1); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("err %v", err)
	}
}

// TestLegWebRTCOffer: a supervisor in a browser, called by earshot.
func TestLegWebRTCOffer(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b, p := newPhone(t), newPhone(t), newRawPeer(t)
	s := call(t, e, a, b, nil)
	g, err := s.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := g.WebRTCOffer()
	if err != nil || !bytes.Contains(offer, []byte("UDP/TLS/RTP/SAVPF")) {
		t.Fatalf("offer (%v):\n%s", err, offer)
	}
	if err := g.TakeAnswer(p.sdp("", "active")); err != nil {
		t.Fatal(err)
	}
	p.connect(offer, netip.AddrPortFrom(loopback, g.l.port))
	waitFor(t, func() bool { return s.Snapshot().Extra[0].Transport == "connected" })
}

// TestLegAnswersWebRTC: a browser dials a supervision code: its WebRTC
// offer is answered in kind.
func TestLegAnswersWebRTC(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b, p := newPhone(t), newPhone(t), newRawPeer(t)
	s := call(t, e, a, b, nil)
	g, err := s.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := g.AnswerOffer(p.offer(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"UDP/TLS/RTP/SAVPF", "a=setup:passive", "a=mid:0", "a=ice-ufrag:"} {
		if !bytes.Contains(answer, []byte(want)) {
			t.Fatalf("answer lacks %q:\n%s", want, answer)
		}
	}
	p.connect(answer, netip.AddrPortFrom(loopback, g.l.port))
	waitFor(t, func() bool { return s.Snapshot().Extra[0].Transport == "connected" })
}

// TestWebRTCTransportFailures: each way a browser's transport fails after
// the SDP exchange is reported once, with its reason, and counted.
func TestWebRTCTransportFailures(t *testing.T) {
	type report struct {
		leg    int
		reason string
	}
	setup := func(t *testing.T, mod func(*Config)) (*Engine, *rawPeer, *Session, []byte, chan report) {
		e := testEngine(t, mod, nil)
		p, b := newRawPeer(t), newPhone(t)
		s, answer := rawCall(t, e, p, b, "")
		ch := make(chan report, 4)
		s.OnTransportFailed(func(leg int, reason string) { ch <- report{leg, reason} })
		return e, p, s, answer, ch
	}
	expect := func(t *testing.T, ch chan report, reason string) {
		t.Helper()
		select {
		case r := <-ch:
			if r != (report{0, reason}) {
				t.Fatalf("reported %+v, want leg 0 %s", r, reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s report", reason)
		}
		select {
		case r := <-ch:
			t.Fatalf("reported again: %+v", r)
		case <-time.After(300 * time.Millisecond):
		}
	}
	t.Run("ice", func(t *testing.T) {
		e, _, _, _, ch := setup(t, func(c *Config) { c.WebRTCICETimeout = 200 * time.Millisecond })
		expect(t, ch, ReasonICEFailed)
		if e.Stats().WebRTC.ICEFailed != 1 {
			t.Fatalf("stats %+v", e.Stats().WebRTC)
		}
	})
	t.Run("dtls", func(t *testing.T) {
		e := testEngine(t, nil, nil)
		p, b := newRawPeer(t), newPhone(t)
		other, err := webrtc.NewCertificate()
		if err != nil {
			t.Fatal(err)
		}
		// The peer's SDP names another certificate than the one it uses.
		s, answer := rawCall(t, e, p, b, other.Fingerprint())
		ch := make(chan report, 4)
		s.OnTransportFailed(func(leg int, reason string) { ch <- report{leg, reason} })
		p.start(answer, earshotRTP(s, 0), true)
		expect(t, ch, ReasonDTLSFailed)
		if e.Stats().WebRTC.Failed != 1 {
			t.Fatalf("stats %+v", e.Stats().WebRTC)
		}
	})
	t.Run("closed", func(t *testing.T) {
		e, p, s, answer, ch := setup(t, nil)
		p.connect(answer, earshotRTP(s, 0))
		waitFor(t, func() bool { return s.Snapshot().Legs[0].Transport == "connected" })
		p.tr.Close() // sends close_notify
		expect(t, ch, ReasonClosed)
		if e.Stats().WebRTC.PeerClosed != 1 {
			t.Fatalf("stats %+v", e.Stats().WebRTC)
		}
	})
	t.Run("consent", func(t *testing.T) {
		e, p, s, answer, ch := setup(t, func(c *Config) { c.WebRTCConsentTimeout = 300 * time.Millisecond })
		p.connect(answer, earshotRTP(s, 0))
		expect(t, ch, ReasonConsentExpired)
		if e.Stats().WebRTC.ConsentExpired != 1 {
			t.Fatalf("stats %+v", e.Stats().WebRTC)
		}
	})
	t.Run("closed by earshot", func(t *testing.T) {
		_, p, s, answer, ch := setup(t, nil)
		p.connect(answer, earshotRTP(s, 0))
		s.Close()
		select {
		case r := <-ch:
			t.Fatalf("earshot's own close reported: %+v", r)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// originLine is the o= line of an SDP.
func originLine(t *testing.T, b []byte) string {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return "o=" + d.Origin.String()
}
