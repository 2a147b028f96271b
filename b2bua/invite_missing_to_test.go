package b2bua

import (
	"net"
	"strings"
	"testing"
	"time"
)

// An initial INVITE without a To header is malformed and must get 400;
// it must not reach the call setup, which dereferences To.
func TestInviteWithoutToGets400(t *testing.T) {
	s := newTestServer(t, Config{Tenants: testTenants(RingAll)}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	// 127.0.1.7 is inside trunk "wide": trusted by source, no challenge.
	pc, err := net.ListenPacket("udp", "127.0.1.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	msg := "INVITE sip:+15550100@" + addrs[0] + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + pc.LocalAddr().String() + ";rport;branch=z9hG4bK-noto\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:+15551234@carrier.example>;tag=noto\r\n" +
		"Call-ID: noto@127.0.1.7\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:+15551234@" + pc.LocalAddr().String() + ">\r\n" +
		"Content-Length: 0\r\n\r\n"
	dst, _ := net.ResolveUDPAddr("udp", addrs[0])
	if _, err := pc.WriteTo([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no final response: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if strings.HasPrefix(line, "SIP/2.0 1") {
			continue
		}
		if !strings.HasPrefix(line, "SIP/2.0 400 Bad Request") {
			t.Fatalf("got %q, want 400", line)
		}
		return
	}
}
