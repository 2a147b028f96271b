package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// TestLayout checks that the Go mirrors of the map's key and value have
// the sizes the compiled program declares (its BTF).
func TestLayout(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		t.Fatal(err)
	}
	m := spec.Maps["legs"]
	if m == nil {
		t.Fatal("no map legs in the object")
	}
	if got, want := int(m.KeySize), binary.Size(key{}); got != want {
		t.Errorf("key size: program %d, Go %d", got, want)
	}
	if got, want := int(m.ValueSize), binary.Size(entry{}); got != want {
		t.Errorf("value size: program %d, Go %d", got, want)
	}
	if spec.Programs["relay"] == nil {
		t.Fatal("no program relay in the object")
	}
}

// open loads the relay on the loopback interface, or skips saying why.
func open(t *testing.T) *Relay {
	t.Helper()
	r, err := Open(Config{Interfaces: []string{"lo"}, BindAddr: netip.MustParseAddr("127.0.0.1")})
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("in-kernel relay not available here (%v): the userspace relay's tests cover the same path", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func udp(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ap(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32) []byte {
	p := make([]byte, 12+160)
	p[0], p[1] = 0x80, pt
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	for i := range p[12:] {
		p[12+i] = byte(i)
	}
	return p
}

// TestForward sends RTP from a phone to earshot's receiving socket with an
// entry installed and checks what the other phone receives: from earshot's
// other socket, the header mapped by the offsets, the payload intact; and
// that what the entry does not describe reaches the receiving socket
// unchanged.
func TestForward(t *testing.T) {
	r := open(t)
	phoneA, phoneB := udp(t), udp(t)
	legA, legB := udp(t), udp(t) // earshot's two legs
	rt := Route{From: ap(phoneA), Out: ap(legB), To: ap(phoneB), PT: 0, SSRC: 0xB0B0B0B0, Rate: 8000}
	st := State{InSSRC: 0xA1, InSeq: 99, InTS: 99 * 160, InNanos: Now(), SeqOffset: 1000, TSOffset: 50000, OutSeq: 1099, OutTS: 99*160 + 50000, OutNanos: Now()}
	if err := r.Install(ap(legA), rt, st); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for i := uint16(100); i < 110; i++ {
		sent := rtpPacket(0, i, uint32(i)*160, 0xA1)
		if _, err := phoneA.WriteToUDPAddrPort(sent, ap(legA)); err != nil {
			t.Fatal(err)
		}
		phoneB.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := phoneB.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d not forwarded: %v", i, err)
		}
		if from != ap(legB) {
			t.Fatalf("from %s, want earshot's other leg %s", from, ap(legB))
		}
		want := rtpPacket(0, i+1000, uint32(i)*160+50000, 0xB0B0B0B0)
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("packet %d:\n got %x\nwant %x", i, buf[:n], want)
		}
	}
	got, c, ok, err := r.Read(ap(legA))
	if err != nil || !ok {
		t.Fatalf("Read: ok %v, %v", ok, err)
	}
	if c.Packets != 10 || c.Bytes != 10*172 || c.Fallbacks != 0 {
		t.Errorf("counters %+v, want 10 packets, %d bytes, no fallbacks", c, 10*172)
	}
	if got.InSeq != 109 || got.InTS != 109*160 || got.OutSeq != 1109 || got.OutTS != 109*160+50000 ||
		got.SeqOffset != 1000 || got.TSOffset != 50000 || got.InSSRC != 0xA1 {
		t.Errorf("state after 10 packets: %+v", got)
	}
	if got.InNanos < st.InNanos || got.OutNanos < st.OutNanos {
		t.Errorf("times went back: %+v after %+v", got, st)
	}

	// Not for the kernel: another source, another payload type, a new
	// SSRC, a jump. Each reaches earshot's socket as sent, on a fresh
	// entry; after each but the foreign source the peer's next ordinary
	// packet goes there too (in order: userspace has to take the stream
	// back first).
	stranger := udp(t)
	cases := []struct {
		name  string
		from  *net.UDPConn
		pkt   []byte
		pause bool
	}{
		{"foreign source", stranger, rtpPacket(0, 110, 110*160, 0xA1), false},
		{"telephone-event", phoneA, rtpPacket(101, 110, 110*160, 0xA1), true},
		{"new SSRC", phoneA, rtpPacket(0, 110, 110*160, 0xA2), true},
		{"sequence jump", phoneA, rtpPacket(0, 110+4000, 110*160, 0xA1), true},
		{"timestamp jump", phoneA, rtpPacket(0, 110, 110*160+8000*60, 0xA1), true},
	}
	reaches := func(what string, from *net.UDPConn, pkt []byte) {
		t.Helper()
		if _, err := from.WriteToUDPAddrPort(pkt, ap(legA)); err != nil {
			t.Fatal(err)
		}
		legA.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, src, err := legA.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("%s: not passed to the socket: %v", what, err)
		}
		if src != ap(from) || !bytes.Equal(buf[:n], pkt) {
			t.Fatalf("%s: socket got %x from %s, want it unchanged from %s", what, buf[:n], src, ap(from))
		}
	}
	for _, c := range cases {
		st.InSeq, st.InTS, st.InNanos = 109, 109*160, Now()
		if err := r.Install(ap(legA), rt, st); err != nil {
			t.Fatal(err)
		}
		reaches(c.name, c.from, c.pkt)
		if c.pause {
			reaches("the ordinary packet after a "+c.name, phoneA, rtpPacket(0, 110, 110*160, 0xA1))
			continue
		}
		// A stranger does not stop the peer's packets.
		phoneA.WriteToUDPAddrPort(rtpPacket(0, 110, 110*160, 0xA1), ap(legA))
		phoneB.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := phoneB.ReadFromUDPAddrPort(buf)
		if want := rtpPacket(0, 1110, 110*160+50000, 0xB0B0B0B0); err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("after a %s the peer's packet was not forwarded: got %x, %v", c.name, buf[:n], err)
		}
	}
	phoneB.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := phoneB.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("phone B received %x, which the kernel should have left alone", buf[:n])
	}
	if _, _, ok, err := r.Remove(ap(legA)); err != nil || !ok {
		t.Fatalf("Remove: ok %v, %v", ok, err)
	}
	if _, _, ok, _ := r.Remove(ap(legA)); ok {
		t.Error("a removed entry is still there")
	}
	// Removed: the next packet reaches earshot's socket.
	pkt := rtpPacket(0, 111, 111*160, 0xA1)
	phoneA.WriteToUDPAddrPort(pkt, ap(legA))
	legA.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := legA.ReadFromUDPAddrPort(buf); err != nil || !bytes.Equal(buf[:n], pkt) {
		t.Fatalf("after Remove the socket got %x, %v", buf[:n], err)
	}
}

// TestTap forwards with Route.Tap: the peer gets the rewritten packet and
// the taps ring a copy as sent, with earshot's receiving port; the socket gets
// nothing. A packet the entry does not forward reaches the socket, and no
// copy is made of it.
func TestTap(t *testing.T) {
	r := open(t)
	phoneA, phoneB := udp(t), udp(t)
	legA, legB := udp(t), udp(t)
	rt := Route{From: ap(phoneA), Out: ap(legB), To: ap(phoneB), PT: 0, SSRC: 0xB0B0B0B0, Rate: 8000, Tap: true}
	st := State{InSSRC: 0xA1, InSeq: 99, InTS: 99 * 160, InNanos: Now(), SeqOffset: 1000, TSOffset: 50000, OutSeq: 1099, OutTS: 99*160 + 50000, OutNanos: Now()}
	if err := r.Install(ap(legA), rt, st); err != nil {
		t.Fatal(err)
	}
	taps := make(chan []byte, 64)
	ports := make(chan uint16, 64)
	go func() {
		tp := r.Taps()
		for {
			_, err := tp.Drain(func(port uint16, pkt []byte) {
				ports <- port
				taps <- bytes.Clone(pkt)
			})
			if err != nil {
				close(taps)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	nextTap := func(what string) ([]byte, uint16) {
		t.Helper()
		select {
		case p := <-taps:
			return p, <-ports
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no tap copy", what)
		}
		return nil, 0
	}
	buf := make([]byte, 2048)
	for i := uint16(100); i < 110; i++ {
		sent := rtpPacket(0, i, uint32(i)*160, 0xA1)
		if _, err := phoneA.WriteToUDPAddrPort(sent, ap(legA)); err != nil {
			t.Fatal(err)
		}
		phoneB.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := phoneB.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d not forwarded: %v", i, err)
		}
		if want := rtpPacket(0, i+1000, uint32(i)*160+50000, 0xB0B0B0B0); from != ap(legB) || !bytes.Equal(buf[:n], want) {
			t.Fatalf("packet %d forwarded from %s as %x", i, from, buf[:n])
		}
		got, port := nextTap("packet " + fmt.Sprint(i))
		if port != ap(legA).Port() || !bytes.Equal(got, sent) {
			t.Fatalf("packet %d: tap %x for port %d; want it as sent, for port %d", i, got, port, ap(legA).Port())
		}
	}
	if _, c, ok, err := r.Read(ap(legA)); err != nil || !ok || c.Packets != 10 || c.TapLost != 0 {
		t.Fatalf("after 10 packets: counters %+v, ok %v, %v", c, ok, err)
	}
	legA.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := legA.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("the socket got %x, which the kernel forwarded", buf[:n])
	}
	// A telephone-event is not forwarded: it reaches the socket, and no
	// copy is made.
	ev := rtpPacket(101, 110, 110*160, 0xA1)
	phoneA.WriteToUDPAddrPort(ev, ap(legA))
	legA.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := legA.ReadFromUDPAddrPort(buf); err != nil || !bytes.Equal(buf[:n], ev) {
		t.Fatalf("telephone-event: socket got %x, %v", buf[:n], err)
	}
	select {
	case p := <-taps:
		t.Fatalf("a copy %x of a packet the kernel did not forward", p)
	case <-time.After(100 * time.Millisecond):
	}
	// Closing the relay ends Drain.
	r.Close()
	select {
	case _, open := <-taps:
		if open {
			t.Fatal("a copy after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Drain did not fail after Close")
	}
}

// TestDrop: a drop entry discards the peer's audio, counting it and
// noting when it heard the peer; the peer's telephone-events and another
// source's packets still reach the socket.
func TestDrop(t *testing.T) {
	r := open(t)
	phone, stranger, leg := udp(t), udp(t), udp(t)
	before := Now()
	if err := r.InstallDrop(ap(leg), ap(phone), 0); err != nil {
		t.Fatal(err)
	}
	for i := uint16(0); i < 5; i++ {
		if _, err := phone.WriteToUDPAddrPort(rtpPacket(0, i, uint32(i)*160, 0xA1), ap(leg)); err != nil {
			t.Fatal(err)
		}
	}
	ev := rtpPacket(101, 5, 800, 0xA1)
	phone.WriteToUDPAddrPort(ev, ap(leg))
	other := rtpPacket(0, 6, 960, 0xC3)
	stranger.WriteToUDPAddrPort(other, ap(leg))
	buf := make([]byte, 2048)
	for _, want := range []struct {
		what string
		pkt  []byte
		from *net.UDPConn
	}{{"the telephone-event", ev, phone}, {"a stranger's audio", other, stranger}} {
		leg.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, src, err := leg.ReadFromUDPAddrPort(buf)
		if err != nil || src != ap(want.from) || !bytes.Equal(buf[:n], want.pkt) {
			t.Fatalf("%s: socket got %x from %s, %v", want.what, buf[:n], src, err)
		}
	}
	leg.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := leg.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("the socket got %x after them: audio the entry should drop", buf[:n])
	}
	st, c, ok, err := r.Remove(ap(leg))
	if err != nil || !ok || c.Packets != 5 || c.Bytes != 5*172 || st.InNanos < before {
		t.Fatalf("drop entry: counters %+v, heard at %d (after %d), ok %v, %v; want 5 packets of 172 bytes", c, st.InNanos, before, ok, err)
	}
	pkt := rtpPacket(0, 7, 1120, 0xA1)
	phone.WriteToUDPAddrPort(pkt, ap(leg))
	leg.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := leg.ReadFromUDPAddrPort(buf); err != nil || !bytes.Equal(buf[:n], pkt) {
		t.Fatalf("after Remove the socket got %x, %v", buf[:n], err)
	}
}
