package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// rawAgent is a hand-driven agent phone on UDP: it registers with digest
// authentication and then answers what earshot sends it by hand, so a
// test sees every retransmission and every ACK.
type rawAgent struct {
	t    *testing.T
	conn net.PacketConn
	srv  *net.UDPAddr
}

func newRawAgent(t *testing.T, server, ip, ext string) *rawAgent {
	t.Helper()
	c, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	srv, _ := net.ResolveUDPAddr("udp", server)
	a := &rawAgent{t: t, conn: c, srv: srv}
	local := c.LocalAddr().String()
	register := func(cseq, auth string) string {
		msg := "REGISTER sip:" + server + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-reg" + cseq + "\r\n" +
			"From: <sip:" + ext + "@127.0.0.1>;tag=reg\r\nTo: <sip:" + ext + "@127.0.0.1>\r\n" +
			"Call-ID: reg-" + ext + "@" + local + "\r\nCSeq: " + cseq + " REGISTER\r\n" +
			"Contact: <sip:" + ext + "@" + local + ">\r\nExpires: 600\r\nMax-Forwards: 70\r\n" + auth +
			"Content-Length: 0\r\n\r\n"
		a.send(msg)
		return a.await("REGISTER response", func(m string) bool { return cseqMethod(m) == "REGISTER" && status(m) >= 200 })
	}
	res := register("1", "")
	if status(res) != 401 {
		t.Fatalf("REGISTER: %d, want a 401 challenge", status(res))
	}
	var chal *digest.Challenge
	for _, l := range strings.Split(res, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "WWW-Authenticate") {
			if c, err := digest.ParseChallenge(strings.TrimSpace(v)); err == nil && (c.Algorithm == "" || c.Algorithm == "MD5") {
				chal = c
			}
		}
	}
	if chal == nil {
		t.Fatalf("no MD5 challenge in %q", res)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + server, Username: ext, Password: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if res = register("2", "Authorization: "+cred.String()+"\r\n"); status(res) != 200 {
		t.Fatalf("REGISTER with credentials: %d", status(res))
	}
	return a
}

func (a *rawAgent) send(msg string) {
	a.t.Helper()
	if _, err := a.conn.WriteTo([]byte(msg), a.srv); err != nil {
		a.t.Fatal(err)
	}
}

// await returns the first message for which match holds, failing the test
// after 5 s.
func (a *rawAgent) await(what string, match func(string) bool) string {
	a.t.Helper()
	return a.awaitFor(what, 5*time.Second, match)
}

func (a *rawAgent) awaitFor(what string, d time.Duration, match func(string) bool) string {
	a.t.Helper()
	buf := make([]byte, 8192)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		_ = a.conn.SetReadDeadline(end)
		n, _, err := a.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		if m := string(buf[:n]); match(m) {
			return m
		}
	}
	a.t.Fatalf("no %s within %v", what, d)
	return ""
}

// respond answers req with code, adding a To tag.
func (a *rawAgent) respond(req string, code int, reason string) {
	msg := "SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n"
	for _, l := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq":
			msg += l + "\r\n"
		case "to":
			if !strings.Contains(l, "tag=") {
				l += ";tag=rawagent"
			}
			msg += l + "\r\n"
		}
	}
	a.send(msg + "Content-Length: 0\r\n\r\n")
}

func isRequest(m, method string) bool { return strings.HasPrefix(m, method+" ") }

// TestCanceledAgentsFinalIsACKed: earshot gives up ringing an agent (ring
// timeout) and CANCELs; the agent answers 487, and earshot's INVITE
// transaction ACKs it, and ACKs the 487 again when it is retransmitted —
// even though the call itself ended at once with 480.
func TestCanceledAgentsFinalIsACKed(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tenants[0].Groups[0].Queue.Disabled = true // a plain ring group
	cfg.Tenants[0].Groups[0].RingTimeout = config.Duration(time.Second)
	e := start(t, cfg)
	agent := newRawAgent(t, e.udp(), "127.0.0.14", "1001")
	cust := e.customer()
	failed := make(chan error, 1)
	go func() {
		_, err := cust.Call(ctx(t), "100")
		failed <- err
	}()
	inv := agent.await("INVITE", func(m string) bool { return isRequest(m, "INVITE") })
	agent.respond(inv, 180, "Ringing")
	cancel := agent.await("CANCEL", func(m string) bool { return isRequest(m, "CANCEL") })
	agent.respond(cancel, 200, "OK")
	if err := <-failed; err == nil || !strings.Contains(err.Error(), "480") {
		t.Fatalf("customer's call: %v, want 480", err)
	}
	// The call is over; its INVITE transaction to the agent is not. The
	// SIP stack ACKs a retransmitted final response only after T2 (its
	// guard against ACK loops), hence the longer wait the second time.
	for i, within := range []time.Duration{2 * time.Second, sip.T2 + 2*time.Second} {
		agent.respond(inv, 487, "Request Terminated")
		ack := agent.awaitFor("ACK of the 487", within, func(m string) bool { return isRequest(m, "ACK") })
		if cseqMethod(ack) != "ACK" || header(ack, "Call-ID") != header(inv, "Call-ID") {
			t.Fatalf("ACK %d: %q", i, ack)
		}
	}
}

// TestOfferRefusedByEveryAgentIs488: an offer no agent's phone accepts (a
// G.722-only carrier call to PCMU phones) ends in the agents' 488, not in
// 480 as if nobody had answered.
func TestOfferRefusedByEveryAgentIs488(t *testing.T) {
	cfg := testConfig(t)
	e := start(t, cfg)
	a := newRawAgent(t, e.udp(), "127.0.0.14", "1001")
	b := newRawAgent(t, e.udp(), "127.0.0.16", "1002")
	for _, ag := range []*rawAgent{a, b} {
		go func() {
			inv := ag.await("INVITE", func(m string) bool { return isRequest(m, "INVITE") })
			ag.respond(inv, 488, "Not Acceptable Here")
		}()
	}
	g722 := "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"
	if code := rawInvite(t, e.udp(), g722); code != 488 {
		t.Fatalf("G.722-only offer refused by every agent: %d, want 488", code)
	}
}

// TestCancelResponsesCarryTheRingingTag: a caller cancels while its call
// rings; earshot's 200 to the CANCEL (RFC 3261 §9.2) and its 487 to the
// INVITE carry the To tag of its own 180 (§8.2.6.2: one tag on every
// response to a request but the 100).
func TestCancelResponsesCarryTheRingingTag(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	go func() {
		if in, err := agent.Next(ctx(t)); err == nil {
			_ = in.Ring()
			<-in.Canceled()
		}
	}()
	u := newRawUA(t, e.udp())
	u.invite("100", "", sdpFrom("127.0.0.2", 40006))
	ringing := u.await("180", 5*time.Second, func(m string) bool { return status(m) == 180 })
	want := toTag(ringing)
	if want == "" {
		t.Fatalf("180 without a To tag:\n%s", ringing)
	}
	u.send("CANCEL sip:100@" + u.server.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-raw1\r\n" +
		"From: <sip:5550000@127.0.0.2>;tag=raw\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: " + u.callID + "\r\n" +
		"CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	var ok200, final string
	for final == "" {
		m := u.await("200 to the CANCEL and 487", 5*time.Second, func(m string) bool {
			return (status(m) == 200 && cseqMethod(m) == "CANCEL") || status(m) == 487
		})
		if status(m) == 487 {
			final = m
		} else {
			ok200 = m
		}
	}
	if ok200 == "" {
		t.Fatal("no 200 to the CANCEL before the 487")
	}
	if got := toTag(ok200); got != want {
		t.Fatalf("200 to the CANCEL: To tag %q, the 180's %q", got, want)
	}
	if got := toTag(final); got != want {
		t.Fatalf("487 To tag %q, the 180's %q", got, want)
	}
	u.send("ACK sip:100@" + u.server.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-raw1\r\n" +
		"From: <sip:5550000@127.0.0.2>;tag=raw\r\nTo: " + header(final, "To") + "\r\nCall-ID: " + u.callID + "\r\n" +
		"CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	waitActive(t, e, 0)
}
