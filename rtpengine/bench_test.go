package rtpengine

import (
	"encoding/binary"
	"testing"
)

// BenchmarkRelayRewrite measures the per-packet work of the relay without
// sockets: validation and header rewriting of a 20 ms PCMU packet.
func BenchmarkRelayRewrite(b *testing.B) {
	o := newOutStream(1, 1, 1)
	rates := staticRates
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var seq uint16
	var now int64
	for b.Loop() {
		seq++
		now += 20e6
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
		binary.BigEndian.PutUint32(pkt[8:], 5) // the rewrite replaced it
		if !validRTP(pkt) {
			b.Fatal("invalid")
		}
		o.rewrite(pkt, now, &rates)
	}
}

// BenchmarkRelayLoopback sends packets through a session over loopback:
// phone A → earshot leg 0 → relay → earshot leg 1 → phone B, one packet in
// flight at a time, so ns/op is the round of two UDP hops plus the relay.
func BenchmarkRelayLoopback(b *testing.B) {
	e := testEngine(b, nil, nil)
	a, bb := newPhone(b), newPhone(b)
	s, err := e.NewSession("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Answer(1, bb.sdp("")); err != nil {
		b.Fatal(err)
	}
	dst := earshotRTP(s, 0)
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	buf := make([]byte, 2048)
	// The first packet latches leg 0 (one allocation, once per SDP).
	roundTrip := func(seq uint16) {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if _, err := a.rtp.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := bb.rtp.ReadFromUDPAddrPort(buf); err != nil {
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
