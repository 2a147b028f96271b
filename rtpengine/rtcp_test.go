package rtpengine

import (
	"encoding/binary"
	"testing"
)

// testSR builds a compound SR (one report block about reportee) + SDES
// (CNAME) from sender, by hand after RFC 3550 §6.4.1 and §6.5.
func testSR(t testing.TB, sender, reportee uint32, rtpTS uint32) []byte {
	t.Helper()
	b := make([]byte, 0, 128)
	b = append(b, 0x81, rtcpSR, 0, 12) // V=2, RC=1, length 12 words → 52 bytes
	b = binary.BigEndian.AppendUint32(b, sender)
	b = binary.BigEndian.AppendUint64(b, 0x0102030405060708) // NTP
	b = binary.BigEndian.AppendUint32(b, rtpTS)
	b = binary.BigEndian.AppendUint32(b, 10)   // packets
	b = binary.BigEndian.AppendUint32(b, 1600) // octets
	b = binary.BigEndian.AppendUint32(b, reportee)
	b = binary.BigEndian.AppendUint32(b, 0)      // loss
	b = binary.BigEndian.AppendUint32(b, 0x1000) // extended highest seq
	b = binary.BigEndian.AppendUint32(b, 3)      // jitter
	b = binary.BigEndian.AppendUint32(b, 0)      // LSR
	b = binary.BigEndian.AppendUint32(b, 0)      // DLSR
	// SDES: one chunk, CNAME "ab", null, pad → 4 + 4 + 2+2 + 1 → 16 bytes with padding.
	b = append(b, 0x81, rtcpSDES, 0, 3)
	b = binary.BigEndian.AppendUint32(b, sender)
	b = append(b, 1, 2, 'a', 'b', 0, 0, 0, 0)
	if len(b) != 52+16 {
		t.Fatalf("built %d bytes", len(b))
	}
	return b
}

func TestRewriteRTCP(t *testing.T) {
	pkt := testSR(t, 0xAAAA, 0xF00D, 1000)
	x := &rtcpXlate{
		fwd: rtcpView{ssrc: 0xBBBB, started: true, tsOffset: 500},
		rev: rtcpView{ssrc: 0xF00D, started: true, inSSRC: 0xC0C0, seqOffset: 0x10},
	}
	if !rewriteRTCP(pkt, x) {
		t.Fatal("valid compound rejected")
	}
	u32 := func(off int) uint32 { return binary.BigEndian.Uint32(pkt[off:]) }
	if got := u32(4); got != 0xBBBB {
		t.Errorf("SR sender %x, want bbbb", got)
	}
	if got := u32(16); got != 1500 {
		t.Errorf("SR RTP timestamp %d, want 1500", got)
	}
	if got := u32(28); got != 0xC0C0 {
		t.Errorf("report block SSRC %x, want c0c0", got)
	}
	if got := u32(36); got != 0x1000-0x10 {
		t.Errorf("extended seq %x, want %x", got, 0x1000-0x10)
	}
	if got := u32(56); got != 0xBBBB {
		t.Errorf("SDES chunk %x, want bbbb", got)
	}
}

func TestRewriteRTCPMalformed(t *testing.T) {
	good := testSR(t, 1, 2, 3)
	tests := map[string][]byte{
		"empty":            {},
		"short header":     {0x80, 200},
		"version 0":        append([]byte{0x01}, good[1:]...),
		"length overflow":  append([]byte{0x81, 200, 0, 40}, good[4:]...),
		"truncated":        good[:50],
		"RC beyond SR":     append([]byte{0x9f, 200, 0, 12}, good[4:]...),
		"not RTCP type":    append([]byte{0x81, 0x00, 0, 12}, good[4:]...),
		"SDES unended":     {0x81, rtcpSDES, 0, 2, 0, 0, 0, 1, 1, 10, 'a', 'b'},
		"SDES 2 chunks, 1": {0x82, rtcpSDES, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0},
	}
	for name, pkt := range tests {
		if rewriteRTCP(pkt, nil) {
			t.Errorf("%s: accepted", name)
		}
	}
	if !rewriteRTCP(good, nil) {
		t.Error("good packet rejected")
	}
	bye := []byte{0x81, 203, 0, 1, 0, 0, 0, 9}
	if !rewriteRTCP(bye, nil) {
		t.Error("BYE rejected")
	}
}
