package rtpengine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/rtpengine/webrtc"
	"github.com/pion/sdp/v3"
	"github.com/pion/stun/v4"
)

// rawPeer is a minimal WebRTC peer built from earshot's own transport
// (as the DTLS client) on a plain loopback socket: it lets a test send
// hand-made STUN checks and SRTP without a browser stack's own timing.
type rawPeer struct {
	t     testing.TB
	conn  *net.UDPConn
	cert  *webrtc.Certificate
	creds webrtc.Credentials
	tr    *webrtc.Transport
	ready chan struct{} // closed once tr exists

	mu    sync.Mutex // guards stun and tr
	stun  []*stun.Message
	stunC chan struct{}
	media chan []byte // SRTP and SRTCP received, copied
	wg    sync.WaitGroup
}

func newRawPeer(t testing.TB) *rawPeer {
	t.Helper()
	cert, err := webrtc.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, conn: listen(t), cert: cert, creds: webrtc.NewCredentials(),
		ready: make(chan struct{}), stunC: make(chan struct{}, 16), media: make(chan []byte, 64)}
	p.wg.Add(1)
	go p.read()
	t.Cleanup(func() {
		p.conn.Close()
		p.wg.Wait()
		if p.tr != nil {
			p.tr.Close()
		}
	})
	return p
}

// offer is the peer's WebRTC offer; fp replaces its fingerprint if not
// empty.
func (p *rawPeer) offer(fp string) []byte { return p.sdp(fp, "actpass") }

// sdp is the peer's WebRTC SDP with a=setup:setup.
func (p *rawPeer) sdp(fp, setup string) []byte {
	if fp == "" {
		fp = p.cert.Fingerprint()
	}
	return fmt.Appendf(nil, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"+
		"m=audio %d UDP/TLS/RTP/SAVPF 0 8 101\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\n"+
		"a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:%s\r\na=rtcp-mux\r\n"+
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"+
		"a=candidate:1 1 udp 2130706431 127.0.0.1 %d typ host\r\n",
		port(p.conn), p.creds.Ufrag, p.creds.Pwd, fp, setup, port(p.conn))
}

// remote reads earshot's credentials and fingerprint from its answer.
func remoteOf(t testing.TB, answer []byte) (webrtc.Credentials, webrtc.Fingerprint) {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(answer); err != nil {
		t.Fatal(err)
	}
	md := d.MediaDescriptions[0]
	u, _ := md.Attribute("ice-ufrag")
	pw, _ := md.Attribute("ice-pwd")
	f, _ := md.Attribute("fingerprint")
	fp, err := webrtc.ParseFingerprint(f)
	if err != nil {
		t.Fatal(err)
	}
	return webrtc.Credentials{Ufrag: u, Pwd: pw}, fp
}

// connect runs ICE and DTLS with earshot at dst, whose answer was answer,
// the peer being the DTLS client.
func (p *rawPeer) connect(answer []byte, dst netip.AddrPort) { p.connectAs(answer, dst, true) }

// connectAs is connect with the peer's DTLS role chosen.
func (p *rawPeer) connectAs(answer []byte, dst netip.AddrPort, client bool) {
	p.t.Helper()
	tr := p.start(answer, dst, client)
	deadline := time.Now().Add(rxTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for tr.State() != webrtc.StateConnected {
		if time.Now().After(deadline) {
			p.t.Fatalf("peer transport %v", tr.State())
		}
		<-tick.C
	}
}

// start runs ICE with earshot at dst, whose SDP was answer, and starts the
// peer's DTLS handshake without waiting for it.
func (p *rawPeer) start(answer []byte, dst netip.AddrPort, client bool) *webrtc.Transport {
	p.t.Helper()
	remote, fp := remoteOf(p.t, answer)
	tr, err := webrtc.New(webrtc.Config{Certificate: p.cert, Local: p.creds, Remote: remote, RemoteFingerprint: fp,
		Client: client, Send: func(b []byte, to netip.AddrPort) error { _, err := p.conn.WriteToUDPAddrPort(b, to); return err }})
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.tr = tr
	p.mu.Unlock()
	close(p.ready)
	if !p.check(remote.Ufrag+":"+p.creds.Ufrag, remote.Pwd, dst) {
		p.t.Fatal("earshot did not answer a valid check")
	}
	// The peer's own side of ICE: earshot, ICE-lite, sends no checks, so
	// the test plays one to start the peer's DTLS client.
	req, _ := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(p.creds.Ufrag+":"+remote.Ufrag),
		useCandidate{}, stun.NewShortTermIntegrity(p.creds.Pwd), stun.Fingerprint)
	tr.HandleSTUN(req.Raw, dst)
	return tr
}

type useCandidate struct{}

func (useCandidate) AddTo(m *stun.Message) error { m.Add(stun.AttrUseCandidate, nil); return nil }

// check sends a nominating binding request with user and pwd to dst and
// reports whether a success answered it within 300 ms.
func (p *rawPeer) check(user, pwd string, dst netip.AddrPort) bool {
	p.t.Helper()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(user), useCandidate{},
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(req.Raw, dst); err != nil {
		p.t.Fatal(err)
	}
	timeout := time.After(300 * time.Millisecond)
	for {
		p.mu.Lock()
		for _, m := range p.stun {
			if m.TransactionID == req.TransactionID && m.Type == stun.BindingSuccess {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
		select {
		case <-p.stunC:
		case <-timeout:
			return false
		}
	}
}

// transport is the peer's current transport.
func (p *rawPeer) transport() *webrtc.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tr
}

func (p *rawPeer) read() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		switch webrtc.Classify(buf[:n]) {
		case webrtc.KindSTUN:
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() == nil {
				p.mu.Lock()
				p.stun = append(p.stun, m)
				p.mu.Unlock()
				select {
				case p.stunC <- struct{}{}:
				default:
				}
			}
		case webrtc.KindDTLS:
			select {
			case <-p.ready:
				p.transport().HandleDTLS(buf[:n])
			default:
			}
		case webrtc.KindRTP, webrtc.KindRTCP:
			select {
			case p.media <- append([]byte(nil), buf[:n]...):
			default:
			}
		}
	}
}

// rawCall sets up a call from a raw WebRTC peer (leg 0) to a plain phone
// (leg 1) and returns earshot's answer to the peer.
func rawCall(t testing.TB, e *Engine, p *rawPeer, b *phone, fp string) (*Session, []byte) {
	t.Helper()
	s, err := e.NewSession("raw-webrtc", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, p.offer(fp)); err != nil {
		t.Fatal(err)
	}
	answer, err := s.Answer(1, b.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	return s, answer
}

// TestWebRTCICECredentials: earshot answers a check only with its ufrag
// and the peer's, under its password; a wrong one gets no success and
// selects nothing, and media from an unchecked source is dropped.
func TestWebRTCICECredentials(t *testing.T) {
	e := testEngine(t, nil, nil)
	p, b := newRawPeer(t), newPhone(t)
	s, answer := rawCall(t, e, p, b, "")
	remote, _ := remoteOf(t, answer)
	dst := earshotRTP(s, 0)
	for _, bad := range []struct{ name, user, pwd string }{
		{"wrong ufrag", "zzzz:" + p.creds.Ufrag, remote.Pwd},
		{"peer's ufrag swapped", p.creds.Ufrag + ":" + remote.Ufrag, remote.Pwd},
		{"wrong password", remote.Ufrag + ":" + p.creds.Ufrag, p.creds.Pwd},
	} {
		if p.check(bad.user, bad.pwd, dst) {
			t.Errorf("%s: earshot answered with a success", bad.name)
		}
	}
	if snap := s.Snapshot().Legs[0]; snap.RemoteRTP.IsValid() || snap.Transport != "new" {
		t.Fatalf("after bad checks the leg sends to %v (transport %s)", snap.RemoteRTP, snap.Transport)
	}
	// Plain RTP at the leg is not media from the peer ICE chose: dropped.
	before := e.Stats().Dropped.Source
	send(t, p.conn, dst, rtpPacket(t, 0, 1, 160, 5, make([]byte, 160)))
	if !p.check(remote.Ufrag+":"+p.creds.Ufrag, remote.Pwd, dst) {
		t.Fatal("a valid check got no success")
	}
	if e.Stats().Dropped.Source == before {
		t.Error("RTP before ICE was not dropped as from an unknown source")
	}
	snap := s.Snapshot().Legs[0]
	if snap.RemoteRTP != addrOf(p.conn) || !snap.RTPLatched || snap.RemoteRTCP != addrOf(p.conn) {
		t.Errorf("after a valid check the leg sends RTP to %v (latched %v), RTCP to %v; want %v", snap.RemoteRTP, snap.RTPLatched, snap.RemoteRTCP, addrOf(p.conn))
	}
}

// TestWebRTCRawPeerSRTP: SRTP from the peer reaches the phone as plain
// RTP, the phone's RTP and RTCP reach the peer as SRTP and SRTCP on the
// RTP port (rtcp-mux), and anything on the leg's RTCP port is dropped.
func TestWebRTCRawPeerSRTP(t *testing.T) {
	e := testEngine(t, nil, nil)
	p, b := newRawPeer(t), newPhone(t)
	s, answer := rawCall(t, e, p, b, "")
	dst := earshotRTP(s, 0)
	p.connect(answer, dst)
	// The peer can be connected before earshot's handshake goroutine has
	// its keys in place (a packet sent then is dropped as not ready, as
	// a browser's first packets may be): wait for earshot's side too.
	waitFor(t, func() bool { return s.Snapshot().Legs[0].Transport == "connected" })
	pkt := rtpPacket(t, 0, 1, 160, 5, make([]byte, 160))
	if err := p.tr.WriteRTP(pkt, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := recv(t, b.rtp)
	if h := header(t, got); h.PayloadType != 0 || len(got) != len(pkt) {
		t.Fatalf("phone got %+v, %d bytes", h, len(got))
	}
	// The phone's RTP to the browser leaves leg 0 as SRTP.
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 9, 900, 77, make([]byte, 160)))
	srtp := recvKind(t, p, webrtc.KindRTP)
	plain, err := p.tr.UnprotectRTP(srtp)
	if err != nil || header(t, plain).PayloadType != 0 {
		t.Fatalf("unprotect earshot's SRTP: %v", err)
	}
	// And its RTCP as SRTCP on the same port.
	send(t, b.rtcp, earshotRTCP(s, 1), []byte{0x80, 201, 0, 1, 0, 0, 0, 77})
	srtcp := recvKind(t, p, webrtc.KindRTCP)
	if rr, err := p.tr.UnprotectRTCP(srtcp); err != nil || rr[1] != 201 {
		t.Fatalf("unprotect earshot's SRTCP: %v", err)
	}
	before := e.Stats().Dropped.Source
	send(t, p.conn, earshotRTCP(s, 0), []byte{0x80, 201, 0, 1, 0, 0, 0, 5})
	waitFor(t, func() bool { return e.Stats().Dropped.Source > before })
}

// recvKind waits for the peer to receive a datagram of kind.
func recvKind(t testing.TB, p *rawPeer, kind webrtc.Kind) []byte {
	t.Helper()
	timeout := time.After(rxTimeout)
	for {
		select {
		case b := <-p.media:
			if webrtc.Classify(b) == kind {
				return b
			}
		case <-timeout:
			t.Fatalf("peer received no %v", kind)
		}
	}
}

// BenchmarkRelayWebRTCLoopback is BenchmarkRelayLoopback with a WebRTC
// caller: the peer protects a packet (SRTP), earshot's leg 0 unprotects
// it and relays plain RTP from leg 1 to the phone, one packet in flight
// at a time. ns/op minus BenchmarkRelayLoopback's is what SRTP costs a
// relayed packet (protect in the peer, unprotect in earshot: the same
// work earshot does in the other direction).
func BenchmarkRelayWebRTCLoopback(b *testing.B) {
	e := testEngine(b, nil, nil)
	p, ph := newRawPeer(b), newPhone(b)
	s, answer := rawCall(b, e, p, ph, "")
	dst := earshotRTP(s, 0)
	p.connect(answer, dst)
	// As in TestWebRTCRawPeerSRTP: earshot's side may finish after the peer.
	for deadline := time.Now().Add(5 * time.Second); s.Snapshot().Legs[0].Transport != "connected"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("earshot's transport did not connect")
		}
	}
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	buf := make([]byte, 2048)
	roundTrip := func(seq uint16) {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if err := p.tr.WriteRTP(pkt, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ph.rtp.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var seq uint16
	for b.Loop() {
		seq++
		roundTrip(seq)
	}
}

// TestWebRTCEarshotActive: a peer offering a=setup:passive makes earshot
// the DTLS client (a=setup:active), which starts the handshake once ICE
// selected the peer.
func TestWebRTCEarshotActive(t *testing.T) {
	e := testEngine(t, nil, nil)
	p, ph := newRawPeer(t), newPhone(t)
	s, err := e.NewSession("active", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, p.sdp("", "passive")); err != nil {
		t.Fatal(err)
	}
	answer, err := s.Answer(1, ph.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(answer, []byte("a=setup:active\r\n")) {
		t.Fatalf("answer to a passive peer is not active:\n%s", answer)
	}
	dst := earshotRTP(s, 0)
	p.connectAs(answer, dst, false)
	// The server finishes first: wait for earshot, the client, too.
	waitFor(t, func() bool { return s.Snapshot().Legs[0].Transport == "connected" })
	if err := p.tr.WriteRTP(rtpPacket(t, 0, 1, 160, 5, make([]byte, 160)), dst); err != nil {
		t.Fatal(err)
	}
	recv(t, ph.rtp)
}

// TestWebRTCPeerAnswersPassive: to earshot's actpass re-offer the peer
// answers passive: earshot becomes the DTLS client on the address ICE
// selected, at once, and media flows again.
func TestWebRTCPeerAnswersPassive(t *testing.T) {
	e := testEngine(t, nil, nil)
	p, ph := newRawPeer(t), newPhone(t)
	s, answer := rawCall(t, e, p, ph, "")
	dst := earshotRTP(s, 0)
	p.connect(answer, dst)
	old := s.pair.Load()[0].wrtc.Load()

	reoffer, err := s.Offer(1, ph.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(reoffer, []byte("a=setup:actpass\r\n")) {
		t.Fatalf("re-offer to the peer:\n%s", reoffer)
	}
	remote, fp := remoteOf(t, reoffer)
	server, err := webrtc.New(webrtc.Config{Certificate: p.cert, Local: p.creds, Remote: remote, RemoteFingerprint: fp,
		Peer: dst, Send: func(b []byte, to netip.AddrPort) error { _, err := p.conn.WriteToUDPAddrPort(b, to); return err }})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.tr = server
	p.mu.Unlock()
	server.Start()
	t.Cleanup(func() { server.Close() })
	if _, err := s.Answer(0, p.sdp("", "passive")); err != nil {
		t.Fatal(err)
	}
	l := s.pair.Load()[0]
	if l.wrtc.Load() == old || old.State() != webrtc.StateClosed {
		t.Fatal("the transport was not replaced for the new DTLS role")
	}
	waitFor(t, func() bool { return server.State() == webrtc.StateConnected })
	waitFor(t, func() bool { return s.Snapshot().Legs[0].Transport == "connected" })
	if snap := s.Snapshot().Legs[0]; snap.Transport != "connected" || snap.RemoteRTP != addrOf(p.conn) {
		t.Fatalf("leg: transport %s, sending to %v", snap.Transport, snap.RemoteRTP)
	}
	if err := server.WriteRTP(rtpPacket(t, 0, 1, 160, 5, make([]byte, 160)), dst); err != nil {
		t.Fatal(err)
	}
	recv(t, ph.rtp)
}
