package rtpengine

import (
	"encoding/binary"
	"testing"
)

// rtpPacket builds a plain RTP packet field by field after RFC 3550 §5.1,
// independently of the code under test.
func rtpPacket(t testing.TB, pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	t.Helper()
	b := []byte{0x80, pt & 0x7f}
	b = binary.BigEndian.AppendUint16(b, seq)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	return append(b, payload...)
}

// rtpHeader is the decoded fixed header of a test packet.
type rtpHeader struct {
	Marker         bool
	PayloadType    uint8
	SequenceNumber uint16
	Timestamp      uint32
	SSRC           uint32
}

// header decodes the fixed header of an RTP packet.
func header(t testing.TB, b []byte) rtpHeader {
	t.Helper()
	if len(b) < 12 || b[0]>>6 != 2 {
		t.Fatalf("not RTP: % x", b)
	}
	return rtpHeader{
		Marker:         b[1]&0x80 != 0,
		PayloadType:    b[1] & 0x7f,
		SequenceNumber: binary.BigEndian.Uint16(b[2:]),
		Timestamp:      binary.BigEndian.Uint32(b[4:]),
		SSRC:           binary.BigEndian.Uint32(b[8:]),
	}
}

func TestValidRTP(t *testing.T) {
	// Two CSRCs and a one-word RFC 8285 extension, then a 2-byte payload.
	withExt := rtpPacket(t, 0, 1, 1, 1, nil)
	withExt[0] |= 0x10 | 2
	withExt = append(withExt, 0, 0, 0, 1, 0, 0, 0, 2) // CSRCs
	withExt = append(withExt, 0xBE, 0xDE, 0, 1, 0x12, 1, 2, 3)
	withExt = append(withExt, 9, 9)
	padded := rtpPacket(t, 0, 1, 1, 1, []byte{1, 2, 3, 4})
	padded[0] |= 0x20
	padded[len(padded)-1] = 2
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"plain", rtpPacket(t, 0, 1, 160, 5, make([]byte, 160)), true},
		{"csrc and extension", withExt, true},
		{"truncated extension", withExt[:len(withExt)-4], false},
		{"csrc count beyond length", []byte{0x8f, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, false},
		{"short", []byte{0x80, 0, 0, 1}, false},
		{"version 1", []byte{0x40, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, false},
		{"valid padding", padded, true},
		{"padding larger than packet", func() []byte { p := rtpPacket(t, 0, 1, 1, 1, []byte{7, 0xff}); p[0] |= 0x20; return p }(), false},
		{"zero padding", func() []byte { p := rtpPacket(t, 0, 1, 1, 1, []byte{0}); p[0] |= 0x20; return p }(), false},
		{"rtcp sr muxed on rtp", []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 1}, false},
	}
	for _, tt := range tests {
		if got := validRTP(tt.pkt); got != tt.want {
			t.Errorf("%s: validRTP = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOutStreamContinuity(t *testing.T) {
	const ms = int64(1e6)
	o := newOutStream(0xCAFE, 1000, 50000)
	rates := staticRates
	now := int64(1e9)
	var last rtpHeader
	send := func(seq uint16, ts, ssrc uint32) rtpHeader {
		t.Helper()
		pkt := rtpPacket(t, 0, seq, ts, ssrc, []byte{1, 2, 3})
		o.rewrite(pkt, now, &rates)
		h := header(t, pkt)
		if h.SSRC != 0xCAFE {
			t.Fatalf("output SSRC %x, want cafe", h.SSRC)
		}
		if string(pkt[12:]) != "\x01\x02\x03" {
			t.Fatalf("payload changed")
		}
		return h
	}
	// The first input starts exactly at the initial values.
	last = send(7, 900, 1)
	if last.SequenceNumber != 1000 || last.Timestamp != 50000 || !last.Marker {
		t.Fatalf("first packet %+v", last)
	}
	for i := range uint16(5) {
		now += 20 * ms
		h := send(8+i, 900+160*uint32(i+1), 1)
		if h.SequenceNumber != last.SequenceNumber+1 || h.Timestamp != last.Timestamp+160 || h.Marker {
			t.Fatalf("steady packet %d: %+v after %+v", i, h, last)
		}
		last = h
	}
	// The incoming SSRC changes (new callee), here 60 ms after the last
	// packet: seq continues +1, ts one frame on (a hand-over, not a gap),
	// marker set.
	now += 60 * ms
	h := send(40000, 123456789, 2)
	if h.SequenceNumber != last.SequenceNumber+1 || h.Timestamp != last.Timestamp+160 || !h.Marker {
		t.Fatalf("after SSRC change %+v, last %+v", h, last)
	}
	last = h
	// A reordered (older) packet maps into the same space without a re-base.
	old := send(39999, 123456789-160, 2)
	if old.SequenceNumber != last.SequenceNumber-1 || old.Timestamp != last.Timestamp-160 {
		t.Fatalf("reordered %+v, last %+v", old, last)
	}
	// Same SSRC, sequence jumps by 20000 (stream restart).
	now += 20 * ms
	h = send(60000, 123456789+160, 2)
	if h.SequenceNumber != last.SequenceNumber+1 || h.Timestamp != last.Timestamp+160 || !h.Marker {
		t.Fatalf("after seq jump %+v, last %+v", h, last)
	}
	last = h
	// Same SSRC, sequence continuous, timestamp jumps by an hour of media.
	now += 20 * ms
	h = send(60001, 123456789+160+8000*3600, 2)
	if h.SequenceNumber != last.SequenceNumber+1 || h.Timestamp != last.Timestamp+160 || !h.Marker {
		t.Fatalf("after ts jump %+v, last %+v", h, last)
	}
	last = h
	// A loss of 10 packets is not a jump: gaps pass through.
	now += 220 * ms
	h = send(60012, 123456789+160+8000*3600+11*160, 2)
	if h.SequenceNumber != last.SequenceNumber+11 || h.Timestamp != last.Timestamp+11*160 || h.Marker {
		t.Fatalf("after loss %+v, last %+v", h, last)
	}
}

func TestOutStreamSequenceWrap(t *testing.T) {
	o := newOutStream(1, 65534, 0)
	rates := staticRates
	want := uint16(65534)
	for i := range uint16(5) {
		pkt := rtpPacket(t, 8, 65533+i, 160*uint32(i), 9, nil)
		o.rewrite(pkt, int64(i+1)*20e6, &rates)
		if h := header(t, pkt); h.SequenceNumber != want || (i > 0 && h.Marker) {
			t.Fatalf("packet %d: seq %d marker %v, want %d", i, h.SequenceNumber, h.Marker, want)
		}
		want++
	}
}

func TestRewriteNoAllocs(t *testing.T) {
	o := newOutStream(1, 1, 1)
	rates := staticRates
	pkt := rtpPacket(t, 0, 1, 160, 5, make([]byte, 160))
	seq := uint16(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if !validRTP(pkt) {
			t.Fatal("invalid")
		}
		o.rewrite(pkt, int64(seq)*20e6, &rates)
	})
	if allocs != 0 {
		t.Fatalf("per-packet rewrite allocates %v times", allocs)
	}
	sr := testSR(t, 5, 4, 1)
	x := &rtcpXlate{fwd: o.view(), rev: o.view()}
	allocs = testing.AllocsPerRun(1000, func() {
		if !rewriteRTCP(sr, x) {
			t.Fatal("invalid")
		}
	})
	if allocs != 0 {
		t.Fatalf("RTCP rewrite allocates %v times", allocs)
	}
}
