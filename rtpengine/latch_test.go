package rtpengine

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// listenOn is listen on another loopback address: a host that is not the
// phone (an attacker, a NAT router).
func listenOn(t testing.TB, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nothing asserts that conn has received no datagram. Callers first make
// sure every packet that could have caused one was handled (a later packet
// on the same socket went through), so the short wait only catches sends
// already in flight.
func nothing(t *testing.T, conn *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	n, src, err := conn.ReadFromUDPAddrPort(buf)
	if err == nil {
		t.Fatalf("%v received %d bytes from %v, want nothing", conn.LocalAddr(), n, src)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
}

func TestLatchOnlyTheSDPSource(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	attacker := listenOn(t, "127.0.0.66")

	// Before the caller sends, earshot sends to the address in its SDP.
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 1, 1, 0xB1, []byte("pre")))
	if got, _ := recv(t, a.rtp); string(got[12:]) != "pre" {
		t.Fatalf("SDP address got %q", got[12:])
	}
	// A sprayer before the caller's first packet latches nothing, and the
	// caller's own first packet latches at once.
	for seq := range uint16(5) {
		send(t, attacker, earshotRTP(s, 0), rtpPacket(t, 0, seq, 160*uint32(seq), 0xEE, []byte("evil")))
	}
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 1, 0xA1, []byte("one")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "one" {
		t.Fatalf("callee got %q, want the caller's packet", got[12:])
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 2, 161, 0xB1, []byte("two")))
	if got, _ := recv(t, a.rtp); string(got[12:]) != "two" {
		t.Fatalf("caller got %q", got[12:])
	}
	if l := s.Snapshot().Legs[0]; !l.RTPLatched || l.RemoteRTP != addrOf(a.rtp) {
		t.Fatalf("leg 0 snapshot %+v", l)
	}
	// And after the latch, too.
	send(t, attacker, earshotRTP(s, 0), rtpPacket(t, 0, 6, 961, 0xEE, []byte("evil")))
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 2, 161, 0xA1, []byte("three")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "three" {
		t.Fatalf("callee got %q", got[12:])
	}
	nothing(t, attacker)
	if d := e.Stats().Dropped.Source; d != 6 {
		t.Fatalf("source drops = %d, want 6", d)
	}
}

func TestNothingLatchesBeforeSDP(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s, err := e.NewSession("early", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		t.Fatal(err)
	}
	// The callee has not answered: its leg has no peer, and a packet sent
	// to its port from anywhere — even the callee-to-be — latches nothing.
	sprayer := listenOn(t, "127.0.0.66")
	for seq := range uint16(5) {
		send(t, sprayer, earshotRTP(s, 1), rtpPacket(t, 0, seq, 160*uint32(seq), 0xEE, []byte("evil")))
		send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, seq, 160*uint32(seq), 0xB1, []byte("b")))
	}
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 1, 0xA1, []byte("a")))
	waitFor(t, func() bool { return e.Stats().Dropped.Source+e.Stats().Dropped.NoDestination == 11 })
	if d := e.Stats().Dropped.Source; d != 10 {
		t.Fatalf("source drops = %d, want 10", d)
	}
	if l := s.Snapshot().Legs[1]; l.RTPLatched || l.RemoteRTP.IsValid() {
		t.Fatalf("unanswered leg latched: %+v", l)
	}
	nothing(t, sprayer)
	nothing(t, a.rtp)
}

func TestNATLatchAfterProbation(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	// The caller's router maps its RTP to another port of the SDP's IP.
	nat := listen(t)
	at := earshotRTP(s, 0)

	// Probation: natProbation consecutive packets of one SSRC are needed;
	// a gap in the sequence, another SSRC, or a payload type the call did
	// not negotiate starts it again.
	send(t, nat, at, rtpPacket(t, 0, 10, 1600, 0xA1, []byte("p1")))
	send(t, nat, at, rtpPacket(t, 0, 11, 1760, 0xA1, []byte("p2")))
	send(t, nat, at, rtpPacket(t, 0, 13, 2080, 0xA1, []byte("gap")))
	send(t, nat, at, rtpPacket(t, 0, 14, 2240, 0xA2, []byte("ssrc")))
	send(t, nat, at, rtpPacket(t, 96, 15, 2400, 0xA2, []byte("pt")))
	send(t, nat, at, rtpPacket(t, 0, 20, 3200, 0xA1, []byte("q1")))
	send(t, nat, at, rtpPacket(t, 0, 21, 3360, 0xA1, []byte("q2")))
	send(t, nat, at, rtpPacket(t, 0, 22, 3520, 0xA1, []byte("q3")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "q3" {
		t.Fatalf("callee got %q, want the packet that ended probation", got[12:])
	}
	if d := e.Stats().Dropped.Source; d != 7 {
		t.Fatalf("source drops = %d, want 7", d)
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 2, 161, 0xB1, []byte("to-nat")))
	if got, _ := recv(t, nat); string(got[12:]) != "to-nat" {
		t.Fatalf("NAT source got %q", got[12:])
	}
	nothing(t, a.rtp)
	// Latched: the SDP's own address is now a stranger.
	send(t, a.rtp, at, rtpPacket(t, 0, 23, 3680, 0xA1, []byte("sdp")))
	send(t, nat, at, rtpPacket(t, 0, 23, 3680, 0xA1, []byte("q4")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "q4" {
		t.Fatalf("callee got %q", got[12:])
	}
}

func TestStrictLatchingRefusesNAT(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.Latching = LatchStrict }, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	nat := listen(t)
	for seq := range uint16(10) {
		send(t, nat, earshotRTP(s, 0), rtpPacket(t, 0, seq, 160*uint32(seq), 0xA1, []byte("nat")))
	}
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 10, 1600, 0xA1, []byte("sdp")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "sdp" {
		t.Fatalf("callee got %q", got[12:])
	}
	if d := e.Stats().Dropped.Source; d != 10 {
		t.Fatalf("source drops = %d, want 10", d)
	}
}

func TestNATLatchOnSignallingIP(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	// The caller's SDP names 127.0.0.1, its SIP comes from 127.0.0.5 (a
	// phone behind NAT writes its private address into SDP; its packets
	// come from its router, whose address the signalling shows).
	router := listenOn(t, "127.0.0.5")
	other := listenOn(t, "127.0.0.6")
	at := earshotRTP(s, 0)
	for seq := range uint16(natProbation) {
		send(t, other, at, rtpPacket(t, 0, seq, 160*uint32(seq), 0xA1, []byte("other")))
		send(t, router, at, rtpPacket(t, 0, seq, 160*uint32(seq), 0xA1, []byte("early")))
	}
	waitFor(t, func() bool { return e.Stats().Dropped.Source == 2*natProbation })
	if err := s.SetSignalSource(0, netip.MustParseAddr("127.0.0.5")); err != nil {
		t.Fatal(err)
	}
	for seq := range uint16(natProbation) {
		send(t, other, at, rtpPacket(t, 0, 100+seq, 160*uint32(seq), 0xA1, []byte("other")))
		send(t, router, at, rtpPacket(t, 0, 100+seq, 160*uint32(seq), 0xA1, []byte("router")))
	}
	if got, src := recv(t, b.rtp); string(got[12:]) != "router" || src != earshotRTP(s, 1) {
		t.Fatalf("callee got %q from %v", got[12:], src)
	}
	if d := e.Stats().Dropped.Source; d != 4*natProbation-1 {
		t.Fatalf("source drops = %d, want %d", d, 4*natProbation-1)
	}
	if l := s.Snapshot().Legs[0]; l.RemoteRTP != addrOf(router) {
		t.Fatalf("leg 0 latched to %v, want the router %v", l.RemoteRTP, addrOf(router))
	}
}

func TestForgedRTCPDoesNotLatch(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	attacker := listenOn(t, "127.0.0.66")
	rr := []byte{0x80, rtcpRR, 0, 1, 0, 0, 0, 0xEE}
	// Before any media: the forged report is dropped, not relayed.
	send(t, attacker, earshotRTCP(s, 0), rr)
	send(t, attacker, earshotRTCP(s, 1), rr)
	// The real parties' reports reach each other, and only them.
	send(t, a.rtcp, earshotRTCP(s, 0), testSR(t, 0xA1, 0x1234, 8000))
	recv(t, b.rtcp)
	send(t, b.rtcp, earshotRTCP(s, 1), testSR(t, 0xB1, 0x1234, 8000))
	recv(t, a.rtcp)
	nothing(t, attacker)
	if st := e.Stats(); st.RTCPPackets != 2 || st.Dropped.Source != 2 {
		t.Fatalf("stats %+v", st)
	}
	snap := s.Snapshot()
	if snap.Legs[0].RemoteRTCP != addrOf(a.rtcp) || snap.Legs[1].RemoteRTCP != addrOf(b.rtcp) {
		t.Fatalf("RTCP peers %v %v", snap.Legs[0].RemoteRTCP, snap.Legs[1].RemoteRTCP)
	}
}

func TestNATRTCPFollowsRTP(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	router := listenOn(t, "127.0.0.5")
	routerRTCP := listenOn(t, "127.0.0.5")
	if err := s.SetSignalSource(0, netip.MustParseAddr("127.0.0.5")); err != nil {
		t.Fatal(err)
	}
	// RTCP from the router before its RTP latched: dropped.
	send(t, routerRTCP, earshotRTCP(s, 0), testSR(t, 0xA1, 0x1234, 8000))
	for seq := range uint16(natProbation) {
		send(t, router, earshotRTP(s, 0), rtpPacket(t, 0, seq, 160*uint32(seq), 0xA1, []byte("rtp")))
	}
	recv(t, b.rtp)
	send(t, routerRTCP, earshotRTCP(s, 0), testSR(t, 0xA1, 0x1234, 8000))
	recv(t, b.rtcp)
	send(t, b.rtcp, earshotRTCP(s, 1), testSR(t, 0xB1, 0x1234, 8000))
	recv(t, routerRTCP)
	nothing(t, a.rtcp)
	if st := e.Stats(); st.RTCPPackets != 2 || st.Dropped.Source != natProbation-1+1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefreshKeepsTheLatch(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	nat := listen(t)
	for seq := range uint16(natProbation) {
		send(t, nat, earshotRTP(s, 0), rtpPacket(t, 0, seq, 160*uint32(seq), 0xA1, []byte("nat")))
	}
	recv(t, b.rtp)
	// A session refresh repeats the same SDP: the NAT latch stands and
	// the very next packet goes through.
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, b.sdp("")); err != nil {
		t.Fatal(err)
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 1, 1, 0xB1, []byte("kept")))
	if got, _ := recv(t, nat); string(got[12:]) != "kept" {
		t.Fatalf("NAT peer got %q", got[12:])
	}
	// New SDP naming another address re-opens latching there.
	moved := newPhone(t)
	if _, err := s.Offer(0, moved.sdp("")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, b.sdp("")); err != nil {
		t.Fatal(err)
	}
	send(t, nat, earshotRTP(s, 0), rtpPacket(t, 0, 9, 1440, 0xA1, []byte("stale")))
	send(t, moved.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 1, 0xA3, []byte("fresh")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "fresh" {
		t.Fatalf("callee got %q, want the new SDP source only", got[12:])
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 2, 161, 0xB1, []byte("back")))
	if got, _ := recv(t, moved.rtp); string(got[12:]) != "back" {
		t.Fatalf("moved caller got %q", got[12:])
	}
	nothing(t, nat)
}

func TestMediaTargetRefused(t *testing.T) {
	public := netip.MustParseAddr("198.51.100.7")
	for _, tc := range []struct {
		addr  string
		port  int
		local netip.Addr
		ok    bool
	}{
		{"192.0.2.10", 4000, public, true},
		{"10.1.2.3", 4000, public, true}, // a private address: NAT latching finds the phone
		{"127.0.0.1", 4000, loopback, true},
		{"127.0.0.1", 4000, public, false},
		{"255.255.255.255", 4000, public, false},
		{"224.0.0.1", 4000, public, false},
		{"239.255.255.250", 1900, public, false},
		{"169.254.169.254", 8080, public, false},
		{"0.1.2.3", 4000, public, false},
		{"192.0.2.10", 53, public, false},
		{"192.0.2.10", 1023, public, false},
	} {
		err := mediaTarget(netip.MustParseAddr(tc.addr), tc.port, tc.local)
		if (err == nil) != tc.ok {
			t.Errorf("%s:%d from %v: err %v, want ok=%v", tc.addr, tc.port, tc.local, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrBadAddress) || err.(*statusError).SIPStatus() != 488) {
			t.Errorf("%s:%d: %v, want ErrBadAddress with 488", tc.addr, tc.port, err)
		}
	}
	// Through an offer: the reflector target is refused before any port
	// is pointed at it, for c= and for a=rtcp alike.
	e := testEngine(t, nil, nil)
	s, err := e.NewSession("reflect", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, body := range []string{
		"v=0\r\no=x 1 1 IN IP4 255.255.255.255\r\ns=-\r\nc=IN IP4 255.255.255.255\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 169.254.169.254\r\n",
		"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 22 RTP/AVP 0\r\n",
	} {
		if _, err := s.Offer(0, []byte(body)); !errors.Is(err, ErrBadAddress) {
			t.Errorf("offer %q: %v, want ErrBadAddress", body, err)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNATRebinding: a phone behind NAT whose router gives its stream a new
// port mid-call. The new port is refused while the latched one still
// sends; once the latched port was silent for rebindSilence, the stream
// (same SSRC, sequence +1, natProbation packets) moves there, RTCP follows
// RTP to it, and the old port is a stranger. Another SSRC, or another
// host, never moves the latch.
func TestNATRebinding(t *testing.T) {
	var clock atomic.Int64
	clock.Store(int64(time.Second))
	e := testEngine(t, nil, clock.Load)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	if err := s.SetSignalSource(0, netip.MustParseAddr("127.0.0.5")); err != nil {
		t.Fatal(err)
	}
	oldRTP, oldRTCP := listenOn(t, "127.0.0.5"), listenOn(t, "127.0.0.5")
	newRTP, newRTCP := listenOn(t, "127.0.0.5"), listenOn(t, "127.0.0.5")
	attacker := listenOn(t, "127.0.0.66")
	at, atc := earshotRTP(s, 0), earshotRTCP(s, 0)
	seq := uint16(100)
	pkt := func(ssrc uint32, body string) []byte {
		seq++
		return rtpPacket(t, 0, seq, 160*uint32(seq), ssrc, []byte(body))
	}
	// The first mapping latches after probation, RTCP beside it.
	for range natProbation {
		send(t, oldRTP, at, pkt(0xA1, "old"))
	}
	recv(t, b.rtp)
	send(t, oldRTCP, atc, testSR(t, 0xA1, 0x1234, 8000))
	recv(t, b.rtcp)
	drops := e.Stats().Dropped.Source

	// The new mapping while the old one still sends: refused.
	for range natProbation + 1 {
		send(t, newRTP, at, pkt(0xA1, "early"))
	}
	send(t, oldRTP, at, pkt(0xA1, "still-old"))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "still-old" {
		t.Fatalf("callee got %q, want the latched port's packet", got[12:])
	}
	waitFor(t, func() bool { return e.Stats().Dropped.Source == drops+natProbation+1 })
	clock.Add(rebindSilence - int64(time.Millisecond))
	for range natProbation + 1 {
		send(t, newRTP, at, pkt(0xA1, "too-soon"))
	}
	// Every packet is handled before the clock moves on.
	waitFor(t, func() bool { return e.Stats().Dropped.Source == drops+2*(natProbation+1) })
	// Silent long enough: another SSRC or another host still cannot move it.
	clock.Add(int64(time.Millisecond))
	for range natProbation + 1 {
		send(t, newRTP, at, pkt(0xEE, "other-ssrc"))
		send(t, attacker, at, pkt(0xA1, "attacker"))
	}
	// The stream itself, from its new port: natProbation packets move it.
	for range natProbation {
		send(t, newRTP, at, pkt(0xA1, "moved"))
	}
	if got, _ := recv(t, b.rtp); string(got[12:]) != "moved" {
		t.Fatalf("callee got %q, want the rebound stream", got[12:])
	}
	if d := e.Stats().Dropped.Source - drops; d != 4+4+8+natProbation-1 {
		t.Fatalf("%d packets refused on the way, want %d", d, 4+4+8+natProbation-1)
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 9, 1440, 0xB1, []byte("to-new")))
	if got, _ := recv(t, newRTP); string(got[12:]) != "to-new" {
		t.Fatalf("new port got %q", got[12:])
	}
	nothing(t, oldRTP)
	nothing(t, attacker)
	// RTCP follows RTP to its new mapping; the old RTCP port is refused.
	send(t, newRTCP, atc, testSR(t, 0xA1, 0x1234, 8000))
	recv(t, b.rtcp)
	send(t, b.rtcp, earshotRTCP(s, 1), testSR(t, 0xB1, 0x1234, 8000))
	recv(t, newRTCP)
	nothing(t, oldRTCP)
	before := e.Stats().Dropped.Source
	send(t, oldRTCP, atc, testSR(t, 0xA1, 0x1234, 8000))
	send(t, oldRTP, at, pkt(0xA1, "stale"))
	waitFor(t, func() bool { return e.Stats().Dropped.Source == before+2 })
}
