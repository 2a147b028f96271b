package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/icholy/digest"
)

// TestWebSocketPhoneDialsListen: a web softphone of the kind JsSIP or
// SIP.js makes — its own SIP over WebSocket, digest with the user's SIP
// password, a browser's WebRTC offer — registers as supervisor 2001 and
// dials the listen feature code with the agent's extension, exactly as a
// SIP phone on UDP would. earshot challenges the INVITE, answers WebRTC,
// and the phone hears both parties while neither hears it; its BYE leaves
// the call as it was. Once on /sip of the HTTP listener, once on a ws
// listener of sip.listen.
func TestWebSocketPhoneDialsListen(t *testing.T) {
	t.Run("http /sip", func(t *testing.T) {
		e := start(t, testConfig(t))
		webPhoneListens(t, e, dialWS(t, e, nil))
	})
	t.Run("ws listener", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.SIP.Listen = append(cfg.SIP.Listen, config.Listener{Transport: "ws", Address: "127.0.0.1:0"})
		e := start(t, cfg)
		webPhoneListens(t, e, dialWSURL(t, "ws://"+e.app.SIPAddrs[2], nil))
	})
}

func webPhoneListens(t *testing.T, e *env, c *wsClient) {
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cs, as := customerToAgent(t, e.customer(), agent)
	answeredCalls(t, e, 1)

	auth := func(challenge, method, uri string) string {
		t.Helper()
		chal, err := digest.ParseChallenge(challenge)
		if err != nil {
			t.Fatalf("challenge %q: %v", challenge, err)
		}
		cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: "2001", Password: "demo", Count: 1, Cnonce: "c0ffee"})
		if err != nil {
			t.Fatal(err)
		}
		return cred.String()
	}
	res := c.register("2001", "", 600)
	if !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Fatalf("REGISTER without credentials:\n%s", res)
	}
	if res := c.register("2001", auth(header(res, "WWW-Authenticate"), "REGISTER", "sip:demo"), 600); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER with digest:\n%s", res)
	}

	web := newWebPeer(t, toneBrowser)
	offer := string(web.offer())
	uri := "sip:*11001@demo"
	invite := func(cseq int, authorization string) string {
		t.Helper()
		if authorization != "" {
			authorization = "Authorization: " + authorization + "\r\n"
		}
		return fmt.Sprintf("INVITE %[1]s SIP/2.0\r\nVia: SIP/2.0/WSS %[2]s;branch=z9hG4bK-inv%[3]d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:2001@demo>;tag=wsinv\r\nTo: <%[1]s>\r\nCall-ID: wsinv-%[2]s\r\nCSeq: %[3]d INVITE\r\n"+
			"Contact: <sip:x@%[2]s;transport=ws;ob>\r\n%[4]sContent-Type: application/sdp\r\nContent-Length: %[5]d\r\n\r\n%[6]s",
			uri, c.host, cseq, authorization, len(offer), offer)
	}
	final := func() string {
		t.Helper()
		for {
			m := c.read(5 * time.Second)
			if !strings.HasPrefix(m, "SIP/2.0 1") {
				return m
			}
		}
	}
	c.send(invite(1, ""))
	res = final()
	// earshot is the user agent server here: 401 and WWW-Authenticate.
	challenge := header(res, "WWW-Authenticate")
	if !strings.HasPrefix(res, "SIP/2.0 401") || challenge == "" {
		t.Fatalf("an INVITE without credentials:\n%s", res)
	}
	// The ACK of a non-2xx final response (same branch).
	c.send(fmt.Sprintf("ACK %[1]s SIP/2.0\r\nVia: SIP/2.0/WSS %[2]s;branch=z9hG4bK-inv1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:2001@demo>;tag=wsinv\r\nTo: %[3]s\r\nCall-ID: wsinv-%[2]s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		uri, c.host, header(res, "To")))
	cred := auth(challenge, "INVITE", uri)
	c.send(invite(2, cred))
	ok := final()
	if !strings.HasPrefix(ok, "SIP/2.0 200") {
		t.Fatalf("the listen code over WebSocket:\n%s", ok)
	}
	body := ok[strings.Index(ok, "\r\n\r\n")+4:]
	if !strings.Contains(body, "UDP/TLS/RTP/SAVPF") || !strings.Contains(body, "a=ice-lite") {
		t.Fatalf("earshot's answer to a WebRTC offer is not WebRTC:\n%s", body)
	}
	to := header(ok, "To")
	target := header(ok, "Contact") // the ACK's and BYE's Request-URI
	if i, j := strings.Index(target, "<"), strings.Index(target, ">"); i >= 0 && j > i {
		target = target[i+1 : j]
	}
	inDialog := func(method string, cseq int, branch string) string {
		return fmt.Sprintf("%[1]s %[2]s SIP/2.0\r\nVia: SIP/2.0/WSS %[3]s;branch=z9hG4bK-%[6]s\r\nMax-Forwards: 70\r\n"+
			"From: <sip:2001@demo>;tag=wsinv\r\nTo: %[4]s\r\nCall-ID: wsinv-%[3]s\r\nCSeq: %[5]d %[1]s\r\nContent-Length: 0\r\n\r\n",
			method, target, c.host, to, cseq, branch)
	}
	c.send(inDialog("ACK", 2, "ack2"))
	web.answered([]byte(body))

	// Listen: the web phone hears both parties; neither hears it.
	for _, hz := range []float64{toneCustomer, toneAgent} {
		deadline := time.Now().Add(3 * time.Second)
		for web.power(hz) < heard {
			if time.Now().After(deadline) {
				t.Fatalf("the web phone does not hear %v Hz: %.1f dBFS", hz, web.power(hz))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	expectSilent(t, "customer (listen)", cs, toneBrowser)
	expectSilent(t, "agent (listen)", as, toneBrowser)
	if n := len(e.app.SIP.Supervisions()); n != 1 {
		t.Fatalf("%d supervisions, want 1", n)
	}

	// The web phone hangs up: the call goes on between its parties.
	c.send(inDialog("BYE", 3, "bye3"))
	if res := final(); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("BYE:\n%s", res)
	}
	waitFor(t, "the supervision to end", func() bool { return len(e.app.SIP.Supervisions()) == 0 })
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "agent", as)
}
