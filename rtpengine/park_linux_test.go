//go:build linux && !386

package rtpengine

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestParkedPortsDropThenServeTheNextCall: a finished call's sockets stay
// bound through the port's quarantine, read and drop what reaches them
// (counted), are closed to the finished call's legs, and are adopted by
// the next call on the port, which relays as a new call does; the
// engine's end closes them.
func TestParkedPortsDropThenServeTheNextCall(t *testing.T) {
	clock := newFakeClock()
	const rest = 5 * time.Second
	var base int
	e := testEngine(t, func(c *Config) {
		c.PortMax = c.PortMin + 3 // one session's worth
		c.PortQuarantine = rest
		base = c.PortMin
	}, clock.now)
	a, b := newPhone(t), newPhone(t)

	s1 := call(t, e, a, b, nil)
	send(t, a.rtp, earshotRTP(s1, 0), rtpPacket(t, 0, 1, 160, 11, make([]byte, 160)))
	if got, _ := recv(t, b.rtp); len(got) != 172 {
		t.Fatalf("first call: %d bytes relayed", len(got))
	}
	old := s1.pair.Load()[0]
	s1.Close()

	// Parked: the late packet is read and dropped, nobody receives it.
	send(t, a.rtp, netip.AddrPortFrom(loopback, uint16(base)), rtpPacket(t, 0, 2, 320, 11, make([]byte, 160)))
	deadline := time.Now().Add(3 * time.Second)
	for e.Stats().Dropped.Quarantine != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("quarantine drops %d, want 1", e.Stats().Dropped.Quarantine)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.rtp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := b.rtp.ReadFromUDPAddrPort(make([]byte, 2048)); err == nil {
		t.Fatalf("a packet to a resting port reached the callee (%d bytes)", n)
	}
	// The finished leg cannot write through its socket any more.
	if _, err := old.rtp.conn.WriteToUDPAddrPort([]byte("x"), addrOf(b.rtp)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write through a finished leg's socket: %v, want it closed", err)
	}
	if n := e.Stats().PortsInUse; n != 0 {
		t.Fatalf("PortsInUse %d while parked, want 0", n)
	}

	// After the rest the next call adopts the same sockets and relays.
	clock.advance(rest)
	c, d := newPhone(t), newPhone(t)
	s2 := call(t, e, c, d, nil)
	if got := s2.pair.Load()[0].port; got != uint16(base) {
		t.Fatalf("next call on port %d, want the rested %d", got, base)
	}
	send(t, c.rtp, earshotRTP(s2, 0), rtpPacket(t, 0, 7, 1600, 22, make([]byte, 160)))
	got, src := recv(t, d.rtp)
	if len(got) != 172 || src != earshotRTP(s2, 1) {
		t.Fatalf("second call: %d bytes from %v", len(got), src)
	}
	send(t, d.rtp, earshotRTP(s2, 1), rtpPacket(t, 0, 9, 1600, 33, make([]byte, 160)))
	if got, _ := recv(t, c.rtp); len(got) != 172 {
		t.Fatalf("second call, back: %d bytes", len(got))
	}
	if n := e.Stats().Dropped.Quarantine; n != 1 {
		t.Fatalf("quarantine drops %d after the second call's packets, want still 1", n)
	}

	// The engine's end closes the parked and adopted sockets alike.
	s2.Close()
	e.Close()
	for _, p := range []int{base, base + 1, base + 2, base + 3} {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			t.Fatalf("port %d still held after the engine closed: %v", p, err)
		}
		conn.Close()
	}
}

// TestRestedSocketsBeforeFreshPorts: a rested pair whose sockets were
// kept is handed out before a pair of the range never bound, so the open
// sockets follow the calls rather than the range; the next call adopts
// the very descriptors.
func TestRestedSocketsBeforeFreshPorts(t *testing.T) {
	clock := newFakeClock()
	const rest = 5 * time.Second
	var base int
	e := testEngine(t, func(c *Config) {
		c.PortMax = c.PortMin + 11 // three sessions' worth
		c.PortQuarantine = rest
		base = c.PortMin
	}, clock.now)
	s1, err := e.NewSession("one", nil)
	if err != nil {
		t.Fatal(err)
	}
	fds := []int{s1.pair.Load()[0].rtp.conn.fd, s1.pair.Load()[1].rtp.conn.fd}
	s1.Close()
	// Resting: the next session binds fresh ports. Which ones is the
	// range's next free pair: base+4 unless another process on the
	// machine (go test runs packages in parallel) holds it, and then one
	// after it.
	s2, err := e.NewSession("two", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.pair.Load(); got[0].port == uint16(base) || got[1].port == uint16(base+2) || got[0].port < uint16(base+4) {
		t.Fatalf("session during the rest on ports %d and %d, want fresh ones past the resting %d and %d", got[0].port, got[1].port, base, base+2)
	}
	clock.advance(rest)
	s3, err := e.NewSession("three", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := s3.pair.Load()
	if p[0].port != uint16(base) || p[1].port != uint16(base+2) {
		t.Fatalf("after the rest: ports %d and %d, want the rested %d and %d (not a never-bound pair)",
			p[0].port, p[1].port, base, base+2)
	}
	if got := []int{p[0].rtp.conn.fd, p[1].rtp.conn.fd}; got[0] != fds[0] || got[1] != fds[1] {
		t.Fatalf("descriptors %v, want the kept %v", got, fds)
	}
	s2.Close()
	s3.Close()
}
