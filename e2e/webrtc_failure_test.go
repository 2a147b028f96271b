package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/rtpengine/webrtc"
	pwebrtc "github.com/pion/webrtc/v4"
)

// TestBrowserLegFailures: a supervisor listening from a browser whose
// WebRTC transport fails after the SDP exchange — no ICE check ever
// arrives (no reachable candidate), the DTLS handshake fails, the page's
// peer connection closes, the page's WebSocket closes (a closed tab) — is
// detached with a clear reason and its leg hung up, while the supervised
// call goes on; each failure is counted.
func TestBrowserLegFailures(t *testing.T) {
	cfg := testConfig(t)
	cfg.Media.WebRTCICETimeout = config.Duration(time.Second)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cs, as := customerToAgent(t, e.customer(), agent)
	callID := answeredCalls(t, e, 1)[0].ID
	events := sse(t, e, "demo-2001")
	cookie := webSession(t, e, "2001")
	origin := "http://" + e.app.HTTPAddr
	other, err := webrtc.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		reason string // the supervision's end reason
		// answer answers earshot's WebRTC offer; then, once the page has
		// sent it, fail makes the transport fail.
		answer func(t *testing.T, offer string) (string, *webPeer)
		fail   func(page *wsClient, w *webPeer)
	}{
		{"no ICE check", "media_failed", func(t *testing.T, offer string) (string, *webPeer) {
			// A well-formed answer from a browser that never reaches
			// earshot's candidate.
			return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
				"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\n" +
				"a=ice-pwd:0123456789abcdefghijklmn\r\na=fingerprint:" + other.Fingerprint() + "\r\n" +
				"a=setup:active\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", nil
		}, nil},
		{"DTLS fails", "media_failed", func(t *testing.T, offer string) (string, *webPeer) {
			// ICE succeeds; the fingerprint in the answer is not the
			// certificate the browser presents.
			w := newWebPeer(t, toneBrowser)
			ans := w.answer(offer)
			fp := regexp.MustCompile(`a=fingerprint:[^\r\n]+`)
			return fp.ReplaceAllString(ans, "a=fingerprint:"+other.Fingerprint()), w
		}, nil},
		{"peer connection closed", "media_failed", func(t *testing.T, offer string) (string, *webPeer) {
			w := newWebPeer(t, toneBrowser)
			return w.answer(offer), w
		}, func(_ *wsClient, w *webPeer) {
			w.waitConnected()
			waitConnectedCount(t, origin, 1)
			w.pc.Close() // DTLS close_notify, as a page closing its RTCPeerConnection sends
		}},
		{"tab closed", "supervisor_hangup", func(t *testing.T, offer string) (string, *webPeer) {
			w := newWebPeer(t, toneBrowser)
			return w.answer(offer), w
		}, func(page *wsClient, w *webPeer) {
			w.waitConnected()
			waitConnectedCount(t, origin, 2)
			page.conn.Close()
		}},
	}
	for _, tc := range cases {
		page := dialWS(t, e, http.Header{"Cookie": {cookie}, "Origin": {origin}})
		if res := page.register("2001", "", 600); !strings.HasPrefix(res, "SIP/2.0 200") {
			t.Fatalf("%s: REGISTER from the page:\n%s", tc.name, res)
		}
		code, sv := api(t, e, "demo-2001", "POST", "/calls/"+callID+"/supervisions", map[string]any{"mode": "listen", "device": "browser"})
		if code != 201 {
			t.Fatalf("%s: supervise from the browser: %d %v", tc.name, code, sv)
		}
		inv := page.read(3 * time.Second)
		if !strings.HasPrefix(inv, "INVITE ") || !strings.Contains(inv, "UDP/TLS/RTP/SAVPF") || !strings.Contains(inv, "a=ice-lite") {
			t.Fatalf("%s: earshot's INVITE to the browser:\n%s", tc.name, inv)
		}
		answer, w := tc.answer(t, inv[strings.Index(inv, "\r\n\r\n")+4:])
		page.send(okWithSDP(inv, page.host, answer))
		if ack := page.read(3 * time.Second); !strings.HasPrefix(ack, "ACK ") {
			t.Fatalf("%s: no ACK:\n%s", tc.name, ack)
		}
		if tc.fail != nil {
			tc.fail(page, w)
		}
		ended := waitEvent(t, events, "supervision.ended")
		if !strings.Contains(ended, `"end_reason":"`+tc.reason+`"`) {
			t.Errorf("%s: supervision ended: %s, want end_reason %s", tc.name, ended, tc.reason)
		}
		if tc.name != "tab closed" {
			// earshot hangs up the browser's leg.
			if bye := page.read(3 * time.Second); !strings.HasPrefix(bye, "BYE ") {
				t.Errorf("%s: earshot did not hang up the browser:\n%s", tc.name, bye)
			}
		}
		page.conn.Close()
		if w != nil {
			w.pc.Close()
		}
		// The supervised call goes on, unmixed and untouched.
		expectHears(t, tc.name+": customer", cs, toneAgent)
		expectHears(t, tc.name+": agent", as, toneCustomer)
		expectSilent(t, tc.name+": customer", cs, toneBrowser)
	}
	body := get(t, origin+"/metrics")
	for _, want := range []string{
		`earshot_webrtc_transport_failures_total{reason="ice_failed"} 1`,
		`earshot_webrtc_transport_failures_total{reason="dtls_failed"} 1`,
		`earshot_webrtc_transport_failures_total{reason="closed"} 1`,
		`earshot_webrtc_handshakes_total{result="connected"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := len(e.app.SIP.Supervisions()); n != 0 {
		t.Errorf("%d supervisions left", n)
	}
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "agent", as)
}

// waitConnectedCount waits until earshot has counted n WebRTC
// transports connected: the peer can see the handshake done before
// earshot's side has finished it.
func waitConnectedCount(t *testing.T, origin string, n float64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%v WebRTC handshakes connected", n), func() bool {
		return metricValue(get(t, origin+"/metrics"), `earshot_webrtc_handshakes_total{result="connected"}`) >= n
	})
}

// okWithSDP is the page's 200 OK to an INVITE, with body.
func okWithSDP(inv, host, body string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, h := range []string{"Via", "From", "Call-ID", "CSeq"} {
		for _, line := range strings.Split(inv, "\r\n") {
			if strings.HasPrefix(strings.ToLower(line), strings.ToLower(h)+":") {
				b.WriteString(line + "\r\n")
			}
		}
	}
	fmt.Fprintf(&b, "To: %s;tag=page1\r\nContact: <sip:x@%s;transport=ws>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		header(inv, "To"), host, len(body), body)
	return b.String()
}

// answer is the peer's complete answer (every candidate gathered) to
// earshot's offer.
func (w *webPeer) answer(offer string) string {
	w.t.Helper()
	if err := w.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: offer}); err != nil {
		w.t.Fatalf("earshot's offer refused: %v\n%s", err, offer)
	}
	a, err := w.pc.CreateAnswer(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(w.pc)
	if err := w.pc.SetLocalDescription(a); err != nil {
		w.t.Fatal(err)
	}
	<-gathered
	return w.pc.LocalDescription().SDP
}

// waitConnected waits for ICE and DTLS.
func (w *webPeer) waitConnected() {
	w.t.Helper()
	select {
	case <-w.connected:
	case <-time.After(10 * time.Second):
		w.t.Fatalf("WebRTC peer not connected (state %v)", w.pc.ConnectionState())
	}
}
