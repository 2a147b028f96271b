package interop

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// invite is a well-formed INVITE from the trunk with the given SDP body;
// drop names a header to leave out and contentLength, when not empty,
// overrides the Content-Length value.
func invite(transport, local, server, callID, body, drop, contentLength string) string {
	hdrs := []string{
		"INVITE sip:100@" + server + " SIP/2.0",
		"Via: SIP/2.0/" + transport + " " + local + ";branch=z9hG4bK" + callID,
		"From: <sip:customer@" + local + ">;tag=" + callID,
		"To: <sip:100@" + server + ">",
		"Call-ID: " + callID,
		"CSeq: 1 INVITE",
		"Contact: <sip:customer@" + local + ">",
		"Max-Forwards: 70",
		"Content-Type: application/sdp",
	}
	var b strings.Builder
	for _, h := range hdrs {
		if drop != "" && strings.HasPrefix(h, drop+":") {
			continue
		}
		b.WriteString(h + "\r\n")
	}
	if contentLength == "" {
		contentLength = strconv.Itoa(len(body))
	}
	b.WriteString("Content-Length: " + contentLength + "\r\n\r\n" + body)
	return b.String()
}

// brokenSDP has a valid SIP envelope around an offer that is not SDP.
const brokenSDP = "v=0\r\no=- x y IN IP4\r\nc=IN IP4 999.1.1.1\r\nm=audio notaport RTP/AVP zero\r\n"

// hostile returns the broken messages the test sends on each transport.
func hostile(transport, local, server string) []string {
	good := "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
	return []string{
		"\x00\xff\xfegarbage that is not SIP at all\r\n\r\n",
		"INVITE sip:100@" + server + " SIP/2.0\r\nVia: SIP/2.0/" + transport + " " + local + "\r\nFrom: <sip:x@",
		invite(transport, local, server, "huge-cl-"+transport, good, "", "99999999"),
		invite(transport, local, server, "no-callid-"+transport, good, "Call-ID", ""),
		"INVITE sip:100@" + server + " SIP/2.0\r\n" + strings.Repeat("X-Junk: "+strings.Repeat("a", 200)+"\r\n", 40) + "\r\n",
	}
}

var statusLine = regexp.MustCompile(`SIP/2\.0 (\d{3}) `)

// finalStatus reads from conn until a final response arrives and returns
// its status.
func finalStatus(t *testing.T, conn net.Conn) int {
	t.Helper()
	var acc []byte
	buf := make([]byte, 65535)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no final response (read %q): %v", acc, err)
		}
		acc = append(acc, buf[:n]...)
		for _, m := range statusLine.FindAllSubmatch(acc, -1) {
			if code, _ := strconv.Atoi(string(m[1])); code >= 200 {
				return code
			}
		}
	}
}

// TestMalformedSIP sends broken messages over UDP and TCP, checks that an
// INVITE whose SDP is nonsense is refused with a 4xx, and then that normal
// calls still complete.
func TestMalformedSIP(t *testing.T) {
	needTool(t, "sipp")
	agents := []string{"1001", "1002"}
	e := startEarshot(t, options{rtpMin: 33000, level: "warn", agents: agents, strategy: "longest-idle"})
	server := e.SIP

	for _, transport := range []string{"UDP", "TCP"} {
		// UDP reuses one trunk port; each TCP connection takes a fresh one
		// because a closed connection's port lingers in TIME_WAIT.
		udpLocal := addr("127.0.0.2", freePort(t, "127.0.0.2"))
		dial := func() (net.Conn, string) {
			d := net.Dialer{Timeout: 5 * time.Second}
			if transport == "UDP" {
				d.LocalAddr, _ = net.ResolveUDPAddr("udp", udpLocal)
			} else {
				d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
			}
			c, err := d.Dial(strings.ToLower(transport), server)
			if err != nil {
				t.Fatalf("%s dial: %v", transport, err)
			}
			return c, c.LocalAddr().String()
		}
		for i := range len(hostile(transport, udpLocal, server)) {
			c, local := dial()
			if _, err := c.Write([]byte(hostile(transport, local, server)[i])); err != nil {
				t.Fatalf("%s message %d: %v", transport, i, err)
			}
			c.Close()
		}
		c, local := dial()
		callID := "bad-sdp-" + strings.ToLower(transport)
		if _, err := c.Write([]byte(invite(transport, local, server, callID, brokenSDP, "", ""))); err != nil {
			t.Fatal(err)
		}
		code := finalStatus(t, c)
		c.Close()
		if code < 400 || code >= 500 {
			t.Errorf("%s INVITE with broken SDP: final response %d, want 4xx", transport, code)
		}
		t.Logf("%s INVITE with broken SDP answered %d", transport, code)
	}
	// The refused call is forgotten just after its final response leaves:
	// allow it a moment on a loaded machine.
	deadline := time.Now().Add(2 * time.Second)
	for got := e.metric(t, "earshot_calls_active"); got != 0; got = e.metric(t, "earshot_calls_active") {
		if time.Now().After(deadline) {
			t.Errorf("earshot_calls_active = %v after hostile input, want 0", got)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	runCallBatch(t, e, callBatch{calls: 4, concurrent: 1, packets: 25, talkMillis: 600, agents: agents, transport: "u1"})
}
