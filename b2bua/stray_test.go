package b2bua

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestStrayResponseCounted: a response that matches no transaction (a
// 200 retransmitted after its INVITE transaction ended) is dropped and
// counted, through earshot's logger rather than sipgo's default one.
func TestStrayResponseCounted(t *testing.T) {
	s := newTestServer(t, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addrs[0]))
	phone, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	res := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP " + addrs[0] + ";branch=z9hG4bK-gone\r\n" +
		"From: <sip:5000@demo>;tag=a\r\nTo: <sip:1001@demo>;tag=b\r\nCall-ID: stray-1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:1001@" + phone.LocalAddr().String() + ">\r\nContent-Length: 0\r\n\r\n"
	for range 3 {
		if _, err := phone.WriteToUDP([]byte(res), srv); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Stats().Dropped[DropStrayResponse] != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stray responses counted: %d, want 3", s.Stats().Dropped[DropStrayResponse])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
