//go:build !386

package rtpengine

import (
	"net/netip"
	"syscall"
	"testing"
)

// engineGoroutinesFor is how many goroutines engine e runs with legs open
// legs: the timeout watcher and its receive loops, however many legs.
func engineGoroutinesFor(e *Engine, legs int) int { return 1 + len(e.recv.loops) }

// sockPair binds two of earshot's sockets on loopback, port 0.
func sockPair(t *testing.T) (a, b *udpSock, aAddr, bAddr netip.AddrPort) {
	t.Helper()
	var socks [2]*udpSock
	var addrs [2]netip.AddrPort
	for i := range socks {
		u, err := listenUDP("udp4", netip.AddrPortFrom(loopback, 0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		sa, err := syscall.Getsockname(u.fd)
		if err != nil {
			t.Fatal(err)
		}
		socks[i] = u
		addrs[i] = netip.AddrPortFrom(loopback, uint16(sa.(*syscall.SockaddrInet4).Port))
	}
	return socks[0], socks[1], addrs[0], addrs[1]
}

// The raw send and receive of the packet path allocate nothing, and the
// source address comes back right.
func TestSockSendRecvNoAllocs(t *testing.T) {
	a, b, aAddr, bAddr := sockPair(t)
	pkt := make([]byte, 172)
	buf := make([]byte, readBufSize)
	var rsa syscall.RawSockaddrAny
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.WriteToUDPAddrPort(pkt, bAddr); err != nil {
			t.Fatal(err)
		}
		n, src, errno := b.recvFrom(buf, &rsa)
		if errno != 0 || n != len(pkt) || src != aAddr {
			t.Fatalf("recv %d bytes from %v: %v", n, src, errno)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per send and receive", allocs)
	}
	if _, _, errno := b.recvFrom(buf, &rsa); errno != syscall.EAGAIN {
		t.Fatalf("reading an empty socket: %v, want EAGAIN", errno)
	}
}

// An event the kernel reported for a socket that was then closed — and
// whose descriptor number went to a new socket on the same slot — must not
// read the new socket: the slot's generation tells them apart.
func TestStaleEventAfterDescriptorReuse(t *testing.T) {
	e := testEngine(t, nil, nil)
	s, err := e.NewSession("stale", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := s.pair.Load()[0]
	// A loop of its own that does not run: the test plays its goroutine.
	lp, err := newRecvLoop(e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer lp.closeFDs()
	sender, old, _, oldAddr := sockPair(t)
	if err := lp.add(old, s, in, false); err != nil {
		t.Fatal(err)
	}
	pkt := rtpPacket(t, 0, 1, 160, 7, make([]byte, 160))
	if _, err := sender.WriteToUDPAddrPort(pkt, oldAddr); err != nil {
		t.Fatal(err)
	}
	stale := make([]syscall.EpollEvent, 4)
	n, err := syscall.EpollWait(lp.epfd, stale, 5000)
	if err != nil || n != 1 {
		t.Fatalf("epoll_wait: %d events, %v", n, err)
	}
	stale = stale[:n]
	oldFD := old.fd
	old.Close()
	repl, err := listenUDP("udp4", netip.AddrPortFrom(loopback, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer repl.Close()
	if repl.fd != oldFD {
		t.Fatalf("the kernel gave descriptor %d, not the closed %d: nothing to test", repl.fd, oldFD)
	}
	if err := lp.add(repl, s, in, false); err != nil {
		t.Fatal(err)
	}
	if repl.slot != uint32(stale[0].Fd) {
		t.Fatalf("new socket on slot %d, the stale event names %d", repl.slot, stale[0].Fd)
	}
	sa, _ := syscall.Getsockname(repl.fd)
	replAddr := netip.AddrPortFrom(loopback, uint16(sa.(*syscall.SockaddrInet4).Port))
	if _, err := sender.WriteToUDPAddrPort(pkt, replAddr); err != nil {
		t.Fatal(err)
	}
	before := e.Stats()
	if lp.handle(stale) {
		t.Fatal("a socket event taken for the stop pipe")
	}
	if after := e.Stats(); after.Dropped != before.Dropped || after.RTPPackets != before.RTPPackets {
		t.Fatalf("the stale event reached the packet path: %+v", after)
	}
	// The new socket's datagram is still queued: nobody read it.
	buf := make([]byte, readBufSize)
	var rsa syscall.RawSockaddrAny
	if n, _, errno := repl.recvFrom(buf, &rsa); errno != 0 || n != len(pkt) {
		t.Fatalf("new socket's packet: %d bytes, %v", n, errno)
	}
}

// After remove, the loop's events for the socket are gone and the slot is
// free for the next socket.
func TestRecvLoopRemoveFreesSlot(t *testing.T) {
	e := testEngine(t, nil, nil)
	s, err := e.NewSession("slots", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lp, err := newRecvLoop(e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer lp.closeFDs()
	a, b, _, _ := sockPair(t)
	for range 3 {
		if err := lp.add(a, s, s.pair.Load()[0], false); err != nil {
			t.Fatal(err)
		}
		lp.remove(a)
		lp.remove(a) // idempotent
	}
	if err := lp.add(b, s, s.pair.Load()[0], true); err != nil {
		t.Fatal(err)
	}
	if len(lp.slots) != 1 || len(lp.free) != 0 || b.slot != 0 || lp.slots[0].gen != 3 {
		t.Fatalf("slots %+v free %v", lp.slots, lp.free)
	}
}
