package rtpengine

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func TestRelayBothWays(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	payload := bytes.Repeat([]byte{0xd5}, 160)

	var last rtpHeader
	for i := range uint16(3) {
		send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 100+i, 8000+160*uint32(i), 0xA1, payload))
		got, src := recv(t, b.rtp)
		if src != earshotRTP(s, 1) {
			t.Fatalf("callee got RTP from %v, want earshot's leg 1 socket %v", src, earshotRTP(s, 1))
		}
		if !bytes.Equal(got[12:], payload) {
			t.Fatal("payload changed in relay")
		}
		h := header(t, got)
		if want := s.Snapshot().Legs[1].Out.SSRC; h.SSRC != want {
			t.Fatalf("callee sees SSRC %x, want leg 1's output SSRC %x", h.SSRC, want)
		}
		if i > 0 && (h.SequenceNumber != last.SequenceNumber+1 || h.Timestamp != last.Timestamp+160) {
			t.Fatalf("packet %d: %+v after %+v", i, h, last)
		}
		last = h
	}

	// The caller restarts its stream: new SSRC and a far sequence number.
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 40000, 999999, 0xA2, payload))
	got, _ := recv(t, b.rtp)
	h := header(t, got)
	if h.SSRC != last.SSRC || h.SequenceNumber != last.SequenceNumber+1 || int32(h.Timestamp-last.Timestamp) <= 0 || !h.Marker {
		t.Fatalf("after SSRC change callee sees %+v after %+v", h, last)
	}
	last = h
	// Same SSRC, the sequence jumps.
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 10, 999999+160, 0xA2, payload))
	got, _ = recv(t, b.rtp)
	if h = header(t, got); h.SSRC != last.SSRC || h.SequenceNumber != last.SequenceNumber+1 || int32(h.Timestamp-last.Timestamp) <= 0 {
		t.Fatalf("after seq jump callee sees %+v after %+v", h, last)
	}

	// And the other way.
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 8, 7, 70, 0xB1, []byte("hello")))
	got, src := recv(t, a.rtp)
	if src != earshotRTP(s, 0) || string(got[12:]) != "hello" {
		t.Fatalf("caller got %q from %v", got[12:], src)
	}
	if h := header(t, got); h.SSRC != s.Snapshot().Legs[0].Out.SSRC || h.PayloadType != 8 {
		t.Fatalf("caller sees %+v", h)
	}

	st := e.Stats()
	if st.RTPPackets != 6 || st.BytesRelayed != 5*(12+160)+12+5 || st.SessionsActive != 1 || st.PortsInUse != 4 {
		t.Fatalf("stats %+v", st)
	}
	// Five packets went to the callee, one to the caller.
	if st.RTPPacketsTo != [NumParties]uint64{Caller: 1, Callee: 5} || st.BytesTo != [NumParties]uint64{Caller: 12 + 5, Callee: 5 * (12 + 160)} {
		t.Fatalf("by party: packets %v bytes %v", st.RTPPacketsTo, st.BytesTo)
	}
}

func TestNewCalleeKeepsStreamsContinuous(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b1, b2 := newPhone(t), newPhone(t), newPhone(t)
	s := call(t, e, a, b1, nil)

	send(t, b1.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 500, 16000, 0xB1, []byte("b1")))
	got, _ := recv(t, a.rtp)
	first := header(t, got)
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 9, 90, 0xA1, []byte("a")))
	got, _ = recv(t, b1.rtp)
	toB1 := header(t, got)

	// b2bua retries another agent: a new answer on leg 1 replaces the callee.
	if _, err := s.Answer(1, b2.sdp("")); err != nil {
		t.Fatal(err)
	}
	send(t, b2.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 61000, 777, 0xB2, []byte("b2")))
	got, _ = recv(t, a.rtp)
	h := header(t, got)
	if string(got[12:]) != "b2" || h.SSRC != first.SSRC || h.SequenceNumber != first.SequenceNumber+1 ||
		int32(h.Timestamp-first.Timestamp) <= 0 {
		t.Fatalf("caller sees %+v %q after %+v: stream not continuous", h, got[12:], first)
	}
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 10, 250, 0xA1, []byte("a2")))
	got, _ = recv(t, b2.rtp)
	if h := header(t, got); string(got[12:]) != "a2" || h.SSRC != toB1.SSRC || h.SequenceNumber != toB1.SequenceNumber+1 {
		t.Fatalf("new callee sees %+v %q, want the stream the old callee saw continued (%+v)", h, got[12:], toB1)
	}
}

func TestRTCPRelay(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	snap := s.Snapshot()
	if snap.Legs[0].RemoteRTCP != addrOf(a.rtcp) {
		t.Fatalf("a=rtcp not honoured: %v, want %v", snap.Legs[0].RemoteRTCP, addrOf(a.rtcp))
	}

	send(t, a.rtcp, earshotRTCP(s, 0), testSR(t, 0xA1, 0x1234, 8000))
	got, src := recv(t, b.rtcp)
	if src != earshotRTCP(s, 1) {
		t.Fatalf("RTCP from %v, want %v", src, earshotRTCP(s, 1))
	}
	if ssrc := binary.BigEndian.Uint32(got[4:]); ssrc != snap.Legs[1].Out.SSRC {
		t.Fatalf("SR sender %x, want leg 1's output SSRC %x", ssrc, snap.Legs[1].Out.SSRC)
	}
	if ssrc := binary.BigEndian.Uint32(got[56:]); ssrc != snap.Legs[1].Out.SSRC {
		t.Fatalf("SDES chunk %x, want %x", ssrc, snap.Legs[1].Out.SSRC)
	}

	rr := []byte{0x80, rtcpRR, 0, 1, 0, 0, 0, 0xB1}
	send(t, b.rtcp, earshotRTCP(s, 1), rr)
	got, _ = recv(t, a.rtcp)
	if ssrc := binary.BigEndian.Uint32(got[4:]); ssrc != snap.Legs[0].Out.SSRC {
		t.Fatalf("RR sender %x, want leg 0's output SSRC %x", ssrc, snap.Legs[0].Out.SSRC)
	}
	// RTCP latches and checks its source like RTP.
	send(t, listen(t), earshotRTCP(s, 1), rr)
	send(t, b.rtcp, earshotRTCP(s, 1), rr)
	recv(t, a.rtcp)
	if st := e.Stats(); st.RTCPPackets != 3 || st.Dropped.Source != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMalformedCounted(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	for _, junk := range [][]byte{{}, {0xff}, {0x80, 0, 0}, bytes.Repeat([]byte{0x9f}, 40), make([]byte, 2048)} {
		send(t, a.rtp, earshotRTP(s, 0), junk)
		send(t, a.rtcp, earshotRTCP(s, 0), junk)
	}
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 1, 1, []byte("ok")))
	send(t, a.rtcp, earshotRTCP(s, 0), testSR(t, 1, 2, 3))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "ok" {
		t.Fatalf("callee got %q", got[12:])
	}
	recv(t, b.rtcp)
	if st := e.Stats(); st.Dropped.Malformed != 10 || st.RTPPackets != 1 || st.RTCPPackets != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReinviteHoldResume(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	origin := func(sdp []byte) (id, version string) {
		f := strings.Fields(strings.SplitN(string(sdp), "\r\n", 3)[1])
		return f[1], f[2]
	}
	// The caller puts the call on hold.
	offer, err := s.Offer(0, a.sdp("sendonly"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(offer), "a=sendonly\r\n") {
		t.Fatalf("hold lost:\n%s", offer)
	}
	id1, v := origin(offer)
	if v != "2" {
		t.Fatalf("re-offer to callee has version %s, want 2", v)
	}
	answer, err := s.Answer(1, b.sdp("recvonly"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(answer), "a=recvonly\r\n") {
		t.Fatalf("recvonly lost:\n%s", answer)
	}
	// Media keeps flowing (music on hold) through the same ports.
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 1, 1, []byte("moh")))
	if got, _ := recv(t, b.rtp); string(got[12:]) != "moh" {
		t.Fatalf("callee got %q on hold", got[12:])
	}
	// The callee resumes with its own re-INVITE; it goes to the caller with
	// the caller leg's o= line, which has sent the first answer (version 1)
	// and the recvonly answer (version 2).
	offer, err = s.Offer(1, b.sdp("sendrecv"))
	if err != nil {
		t.Fatal(err)
	}
	id0, v := origin(offer)
	if v != "3" || id0 == id1 {
		t.Fatalf("offer to caller: session %s version %s (callee leg session %s)", id0, v, id1)
	}
	if _, err := s.Answer(0, a.sdp("sendrecv")); err != nil {
		t.Fatal(err)
	}
	if id, _ := origin(offer); id != id0 {
		t.Fatal("session id changed")
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 1, 1, 1, []byte("back")))
	if got, _ := recv(t, a.rtp); string(got[12:]) != "back" {
		t.Fatalf("caller got %q after resume", got[12:])
	}
}

// A destination the kernel refuses (port 0 on loopback: EINVAL) counts as a
// write error, not as relayed.
func TestWriteErrorCounted(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	s.pair.Load()[1].rtp.dest.Store(&peer{addr: netip.AddrPortFrom(loopback, 0), latched: true})
	s.onRTP(s.pair.Load()[0], rtpPacket(t, 0, 1, 1, 1, []byte("x")), addrOf(a.rtp), nil)
	if st := e.Stats(); st.Dropped.WriteError != 1 || st.RTPPackets != 0 || st.BytesRelayed != 0 {
		t.Fatalf("stats %+v", st)
	}
	// No destination at all is counted apart.
	s.pair.Load()[1].rtp.dest.Store(&peer{})
	s.onRTP(s.pair.Load()[0], rtpPacket(t, 0, 2, 161, 1, []byte("x")), addrOf(a.rtp), nil)
	if st := e.Stats(); st.Dropped.NoDestination != 1 {
		t.Fatalf("stats %+v", st)
	}
}
