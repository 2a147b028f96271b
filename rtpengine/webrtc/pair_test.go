package webrtc

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/pion/dtls/v3"
)

// link joins two transports in memory: DTLS records go to the other side
// at once, SRTP and SRTCP land in a buffer the test reads (no copy is
// allocated, so benchmarks measure the transports alone).
type link struct {
	a, b  *Transport
	toA   []byte // the last media datagram sent to a
	toB   []byte
	addrA netip.AddrPort
	addrB netip.AddrPort
	drops int
	// states is what a's OnState reported.
	states chan State
}

func (l *link) deliver(dst *Transport, buf *[]byte, b []byte) error {
	switch Classify(b) {
	case KindDTLS:
		dst.HandleDTLS(b)
	case KindRTP, KindRTCP:
		*buf = append((*buf)[:0], b...)
	default:
		l.drops++ // STUN answers: the test plays the checks itself
	}
	return nil
}

// pair makes earshot's transport a (server, passive) and a peer b
// (client, active) and runs ICE and DTLS between them. fpOK false gives a
// the wrong fingerprint for b's certificate. profile, if not zero, is the
// only SRTP profile offered.
func pair(t testing.TB, fpOK bool, profile dtls.SRTPProtectionProfile) *link {
	t.Helper()
	certA, _ := NewCertificate()
	certB, _ := NewCertificate()
	credA, credB := NewCredentials(), NewCredentials()
	fpA, _ := ParseFingerprint(certA.Fingerprint())
	fpB, _ := ParseFingerprint(certB.Fingerprint())
	if !fpOK {
		other, _ := NewCertificate()
		fpB, _ = ParseFingerprint(other.Fingerprint())
	}
	l := &link{toA: make([]byte, 0, 4096), toB: make([]byte, 0, 4096),
		addrA: netip.MustParseAddrPort("192.0.2.1:20000"), addrB: netip.MustParseAddrPort("192.0.2.2:50000"),
		states: make(chan State, 1)}
	var err error
	l.a, err = New(Config{Certificate: certA, Local: credA, Remote: credB, RemoteFingerprint: fpB,
		OnState: func(s State) { l.states <- s },
		Send:    func(b []byte, _ netip.AddrPort) error { return l.deliver(l.b, &l.toB, b) }})
	if err != nil {
		t.Fatal(err)
	}
	l.b, err = New(Config{Certificate: certB, Local: credB, Remote: credA, RemoteFingerprint: fpA, Client: true,
		Send: func(b []byte, _ netip.AddrPort) error { return l.deliver(l.a, &l.toA, b) }})
	if err != nil {
		t.Fatal(err)
	}
	if profile != 0 {
		l.a.profiles = []dtls.SRTPProtectionProfile{profile}
		l.b.profiles = []dtls.SRTPProtectionProfile{profile}
	}
	t.Cleanup(func() {
		l.a.Close()
		l.b.Close()
	})
	// The peer's check reaches earshot; earshot's role is passive, so the
	// peer starts DTLS once its own check (played here) succeeds.
	if got := l.a.HandleSTUN(check(t, credA.Ufrag+":"+credB.Ufrag, credA.Pwd, true, true), l.addrB); got != STUNSelected {
		t.Fatalf("earshot: check %v", got)
	}
	if got := l.b.HandleSTUN(check(t, credB.Ufrag+":"+credA.Ufrag, credB.Pwd, true, true), l.addrA); got != STUNSelected {
		t.Fatalf("peer: check %v", got)
	}
	return l
}

func rtpPacket(seq uint16, payload int) []byte {
	pkt := make([]byte, 12+payload)
	pkt[0], pkt[1] = 0x80, 0
	binary.BigEndian.PutUint16(pkt[2:], seq)
	binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(pkt[8:], 0x1234)
	for i := range payload {
		pkt[12+i] = byte(i)
	}
	return pkt
}

// TestHandshakeAndMedia: DTLS completes between earshot (passive) and a
// peer (active) with either SRTP profile, and RTP and RTCP cross in both
// directions, encrypted on the wire and restored exactly; a replay and a
// tampered packet are refused.
func TestHandshakeAndMedia(t *testing.T) {
	for _, prof := range []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80} {
		l := pair(t, true, prof)
		waitState(t, l.a, StateConnected)
		waitState(t, l.b, StateConnected)
		if got := <-l.states; got != StateConnected {
			t.Errorf("OnState told %v, want connected", got)
		}
		for i, dir := range []struct {
			from, to *Transport
			wire     *[]byte
			addr     netip.AddrPort
		}{{l.b, l.a, &l.toA, l.addrA}, {l.a, l.b, &l.toB, l.addrB}} {
			pkt := rtpPacket(uint16(100+i), 160)
			if err := dir.from.WriteRTP(pkt, dir.addr); err != nil {
				t.Fatal(err)
			}
			wire := append([]byte(nil), *dir.wire...)
			if len(wire) <= len(pkt) || string(wire[12:len(pkt)]) == string(pkt[12:]) {
				t.Fatalf("profile %v: the payload left in clear or unauthenticated", prof)
			}
			got, err := dir.to.UnprotectRTP(append([]byte(nil), wire...))
			if err != nil || string(got) != string(pkt) {
				t.Fatalf("profile %v dir %d: unprotect %v, payload equal %v", prof, i, err, string(got) == string(pkt))
			}
			if _, err := dir.to.UnprotectRTP(append([]byte(nil), wire...)); err == nil {
				t.Errorf("profile %v: a replayed packet was accepted", prof)
			}
			bad := rtpPacket(uint16(200+i), 160)
			dir.from.WriteRTP(bad, dir.addr)
			tampered := append([]byte(nil), *dir.wire...)
			tampered[20] ^= 1
			if _, err := dir.to.UnprotectRTP(tampered); err == nil {
				t.Errorf("profile %v: a tampered packet was accepted", prof)
			}
			rr := []byte{0x80, 201, 0, 1, 0, 0, 0x12, 0x34} // an empty RR
			if err := dir.from.WriteRTCP(rr, dir.addr); err != nil {
				t.Fatal(err)
			}
			if Classify(*dir.wire) != KindRTCP {
				t.Fatalf("SRTCP classified %v", Classify(*dir.wire))
			}
			got, err = dir.to.UnprotectRTCP(append([]byte(nil), *dir.wire...))
			if err != nil || string(got) != string(rr) {
				t.Fatalf("profile %v: RTCP %v, % x", prof, err, got)
			}
		}
	}
}

// TestWrongFingerprint: a peer whose certificate is not the one its SDP
// announced fails the handshake; no key is ever installed.
func TestWrongFingerprint(t *testing.T) {
	l := pair(t, false, 0)
	waitState(t, l.a, StateFailed)
	if got := <-l.states; got != StateFailed {
		t.Errorf("OnState told %v, want failed", got)
	}
	if err := l.a.WriteRTP(rtpPacket(1, 160), l.addrB); !errors.Is(err, ErrNotReady) {
		t.Fatalf("WriteRTP after a failed handshake: %v, want ErrNotReady", err)
	}
}

// TestAllocs: protecting and unprotecting a packet allocates nothing.
func TestAllocs(t *testing.T) {
	l := pair(t, true, 0)
	waitState(t, l.a, StateConnected)
	waitState(t, l.b, StateConnected)
	pkt := rtpPacket(1, 160)
	buf := make([]byte, 0, 4096)
	seq := uint16(1)
	allocs := testing.AllocsPerRun(200, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if err := l.b.WriteRTP(pkt, l.addrA); err != nil {
			t.Fatal(err)
		}
		buf = append(buf[:0], l.toA...)
		if _, err := l.a.UnprotectRTP(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per protected and unprotected packet", allocs)
	}
}

// benchmarkSRTP measures per packet: protect (WriteRTP) alone, or
// protect and unprotect (one SRTP hop: what earshot does for a packet
// relayed between a browser and a phone is one of the two).
func benchmarkSRTP(b *testing.B, prof dtls.SRTPProtectionProfile, unprotect bool) {
	l := pair(b, true, prof)
	waitState(b, l.a, StateConnected)
	waitState(b, l.b, StateConnected)
	pkt := rtpPacket(1, 160)
	buf := make([]byte, 0, 4096)
	var seq uint16
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if err := l.b.WriteRTP(pkt, l.addrA); err != nil {
			b.Fatal(err)
		}
		if unprotect {
			buf = append(buf[:0], l.toA...)
			if _, err := l.a.UnprotectRTP(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkProtectGCM(b *testing.B) {
	benchmarkSRTP(b, dtls.SRTP_AEAD_AES_128_GCM, false)
}

func BenchmarkProtectUnprotectGCM(b *testing.B) {
	benchmarkSRTP(b, dtls.SRTP_AEAD_AES_128_GCM, true)
}

func BenchmarkProtectAESCM(b *testing.B) {
	benchmarkSRTP(b, dtls.SRTP_AES128_CM_HMAC_SHA1_80, false)
}

func BenchmarkProtectUnprotectAESCM(b *testing.B) {
	benchmarkSRTP(b, dtls.SRTP_AES128_CM_HMAC_SHA1_80, true)
}
