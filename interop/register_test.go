package interop

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// register makes ext's contact laddr (UDP) known to earshot, answering the
// digest challenge with MD5.
//
// baresip cannot do this itself: earshot's 401 offers MD5 and SHA-256
// (RFC 8760), and baresip 1.0 fails the REGISTER with ENOSYS when any
// challenge it is given names an algorithm other than MD5 instead of using
// the one it supports. So the test registers on the phone's behalf from
// the phone's own address — earshot sends calls to the address a REGISTER
// came from — and then starts the phone on that address. sipp reads the
// first challenge only, which is MD5, and registers itself (registerAgents).
func register(t *testing.T, server, laddr, ext, password string) {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp", laddr)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", la, ra)
	if err != nil {
		t.Fatalf("register %s from %s: %v", ext, laddr, err)
	}
	defer conn.Close()

	uri := "sip:" + server
	callID := fmt.Sprintf("reg-%s-%d@%s", ext, time.Now().UnixNano(), la.IP)
	msg := func(cseq int, auth string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\n", uri)
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%d%d;rport\r\n", laddr, cseq, time.Now().UnixNano())
		fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=reg%s\r\n", ext, ra.IP, ext)
		fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", ext, ra.IP)
		fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", callID, cseq)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nExpires: 600\r\nMax-Forwards: 70\r\n", ext, laddr)
		if auth != "" {
			fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return b.String()
	}

	status, hdrs := exchange(t, conn, msg(1, ""))
	if status != 401 {
		t.Fatalf("first REGISTER for %s: got %d, want a 401 challenge", ext, status)
	}
	var chal *digest.Challenge
	for _, h := range hdrs["www-authenticate"] {
		c, err := digest.ParseChallenge(h)
		if err == nil && strings.EqualFold(c.Algorithm, "MD5") {
			chal = c
		}
	}
	if chal == nil {
		t.Fatalf("401 for %s offers no MD5 challenge: %q", ext, hdrs["www-authenticate"])
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: uri, Username: ext, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := exchange(t, conn, msg(2, cred.String())); status != 200 {
		t.Fatalf("authenticated REGISTER for %s: got %d, want 200", ext, status)
	}
}

// exchange sends one request and returns the first final response's status
// and headers (names lower-cased), retransmitting like a UDP client
// transaction would.
func exchange(t *testing.T, conn *net.UDPConn, req string) (int, map[string][]string) {
	t.Helper()
	buf := make([]byte, 65535)
	for attempt := 0; attempt < 4; attempt++ {
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second << attempt)
		for {
			_ = conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				break // timed out: retransmit
			}
			status, hdrs := parseResponse(string(buf[:n]))
			if status >= 200 {
				return status, hdrs
			}
		}
	}
	t.Fatalf("no final response to:\n%s", req)
	return 0, nil
}

func parseResponse(s string) (int, map[string][]string) {
	head, _, _ := strings.Cut(s, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var status int
	if _, err := fmt.Sscanf(lines[0], "SIP/2.0 %d", &status); err != nil {
		return 0, nil
	}
	hdrs := map[string][]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			k = strings.ToLower(strings.TrimSpace(k))
			hdrs[k] = append(hdrs[k], strings.TrimSpace(v))
		}
	}
	return status, hdrs
}
