//go:build !386

package rtpengine

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
)

// newTestRecvBatch is a recvBatch, or nil when this kernel refuses
// io_uring (said in the test's output).
func newTestRecvBatch(t testing.TB) *recvBatch {
	t.Helper()
	b, err := newRecvBatch()
	if err != nil {
		t.Logf("io_uring unavailable here (%v): the read batch is not tested, the loops read each packet on their own", err)
		return nil
	}
	t.Cleanup(b.close)
	return b
}

// A read batch reads one datagram from each queued socket into the
// event's own buffer, with its source; an empty socket fails at once
// with EAGAIN instead of holding up the batch, and a second datagram
// stays queued for the next wait.
func TestRecvBatch(t *testing.T) {
	b := newTestRecvBatch(t)
	if b == nil {
		return
	}
	one, empty, two := testSock(t), testSock(t), testSock(t)
	tx := listen(t)
	to := func(u *udpSock) netip.AddrPort {
		sa, err := syscall.Getsockname(u.fd)
		if err != nil {
			t.Fatal(err)
		}
		return netip.AddrPortFrom(loopback, uint16(sa.(*syscall.SockaddrInet4).Port))
	}
	send(t, tx, to(one), []byte("first socket"))
	send(t, tx, to(two), []byte("third socket, first"))
	send(t, tx, to(two), []byte("third socket, second"))
	var bufs [maxEvents][readBufSize]byte
	// Event indexes with gaps, as a wait that also reported the stop
	// pipe or a removed socket leaves them.
	b.queue(0, one.fd, bufs[0][:])
	b.queue(2, empty.fd, bufs[2][:])
	b.queue(5, two.fd, bufs[5][:])
	if err := b.submit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		i    int
		want string
	}{{0, "first socket"}, {5, "third socket, first"}} {
		n, src, errno := b.result(c.i)
		if errno != 0 || string(bufs[c.i][:n]) != c.want || src != addrOf(tx) {
			t.Fatalf("event %d: %q from %v (%v), want %q from %v", c.i, bufs[c.i][:n], src, errno, c.want, addrOf(tx))
		}
	}
	if _, _, errno := b.result(2); errno != syscall.EAGAIN {
		t.Fatalf("empty socket: %v, want EAGAIN", errno)
	}
	var buf [64]byte
	var rsa syscall.RawSockaddrAny
	if n, _, errno := two.recvFrom(buf[:], &rsa); errno != 0 || string(buf[:n]) != "third socket, second" {
		t.Fatalf("second datagram: %q (%v)", buf[:n], errno)
	}
	if _, _, errno := one.recvFrom(buf[:], &rsa); errno != syscall.EAGAIN {
		t.Fatalf("first socket read twice: %v", errno)
	}
}

// A receive loop that finds many sockets readable in one wait reads them
// all in one system call, and every packet is relayed once, in order, to
// the right phone. The loop is held (its mutex) while 40 calls' callers
// each send a burst, so that its next wait reports them together.
func TestRecvLoopBatchedReads(t *testing.T) {
	const calls, burst = 40, 5
	e := testEngine(t, func(c *Config) { c.ReceiveLoops = 1; c.PortMax = c.PortMin + 4*calls + 3 }, nil)
	if !e.Stats().IOUring.Receive {
		t.Logf("io_uring receive unavailable here (%s): the loop reads each packet on its own", e.Stats().IOUring.Unavailable)
	}
	type pair struct {
		a, b *phone
		s    *Session
	}
	pairs := make([]pair, calls)
	payload := func(c, i int) []byte {
		p := bytes.Repeat([]byte{0xd5}, 160)
		binary.BigEndian.PutUint16(p, uint16(c))
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		return p
	}
	for c := range pairs {
		p := pair{a: newPhone(t), b: newPhone(t)}
		p.s = call(t, e, p.a, p.b, nil)
		// Latch the caller first, so the burst is relayed as a whole.
		send(t, p.a.rtp, earshotRTP(p.s, 0), rtpPacket(t, 0, 0, 0, 0xA1, payload(c, 0)))
		recv(t, p.b.rtp)
		pairs[c] = p
	}
	before := e.recv.ringReads()
	lp := e.recv.loops[0]
	lp.mu.Lock()
	for i := 1; i <= burst; i++ {
		for c, p := range pairs {
			send(t, p.a.rtp, earshotRTP(p.s, 0), rtpPacket(t, 0, uint16(i), 160*uint32(i), 0xA1, payload(c, i)))
		}
	}
	lp.mu.Unlock()
	for c, p := range pairs {
		var last rtpHeader
		for i := 1; i <= burst; i++ {
			got, src := recv(t, p.b.rtp)
			h := header(t, got)
			if src != earshotRTP(p.s, 1) || !bytes.Equal(got[12:], payload(c, i)) {
				t.Fatalf("call %d, packet %d: from %v payload % x", c, i, src, got[12:16])
			}
			if i > 1 && (h.SSRC != last.SSRC || h.SequenceNumber != last.SequenceNumber+1 || h.Timestamp != last.Timestamp+160) {
				t.Fatalf("call %d, packet %d: %+v after %+v", c, i, h, last)
			}
			last = h
		}
	}
	st := e.Stats()
	if want := uint64(calls * (1 + burst)); st.RTPPackets != want {
		t.Fatalf("relayed %d packets, want %d", st.RTPPackets, want)
	}
	if st.IOUring.Receive && e.recv.ringReads() == before {
		t.Fatal("the loop read every packet on its own")
	}
	t.Logf("reads through the ring: %d of %d", e.recv.ringReads()-before, calls*burst)
}

// Reading through the ring allocates nothing.
func TestRecvBatchNoAllocs(t *testing.T) {
	b := newTestRecvBatch(t)
	if b == nil {
		return
	}
	u, tx := testSock(t), listen(t)
	sa, err := syscall.Getsockname(u.fd)
	if err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(loopback, uint16(sa.(*syscall.SockaddrInet4).Port))
	pkt := make([]byte, 172)
	var bufs [2][readBufSize]byte
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tx.WriteToUDPAddrPort(pkt, to); err != nil {
			t.Fatal(err)
		}
		b.queue(0, u.fd, bufs[0][:])
		b.queue(1, u.fd, bufs[1][:])
		if err := b.submit(); err != nil {
			t.Fatal(err)
		}
		if n, _, errno := b.result(0); errno != 0 || n != len(pkt) {
			t.Fatalf("read %d bytes (%v)", n, errno)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per batch", allocs)
	}
}

// BenchmarkLoopReads500 is the reads of 500 legs' packets, one queued on
// each leg's socket, as receive loops under load find them: one recvfrom
// per packet against the loop's io_uring batches of maxEvents. Sending
// the packets is left out of the timing. Reported per packet.
func BenchmarkLoopReads500(b *testing.B) {
	const legs = 500
	socks := make([]*udpSock, legs)
	dsts := make([]netip.AddrPort, legs)
	for i := range socks {
		socks[i] = testSock(b)
		sa, err := syscall.Getsockname(socks[i].fd)
		if err != nil {
			b.Fatal(err)
		}
		dsts[i] = netip.AddrPortFrom(loopback, uint16(sa.(*syscall.SockaddrInet4).Port))
	}
	tx := testSock(b)
	pkt := make([]byte, 172)
	fill := func() {
		b.StopTimer()
		for _, d := range dsts {
			if _, err := tx.WriteToUDPAddrPort(pkt, d); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	bufs := new([maxEvents][readBufSize]byte)
	var rsa syscall.RawSockaddrAny
	b.Run("recvfrom", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fill()
			for i, u := range socks {
				if n, _, errno := u.recvFrom(bufs[i%maxEvents][:], &rsa); errno != 0 || n != len(pkt) {
					b.Fatalf("read %d (%v)", n, errno)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*legs), "ns/packet")
	})
	b.Run("io_uring", func(b *testing.B) {
		rb := newTestRecvBatch(b)
		if rb == nil {
			b.Skip("io_uring unavailable")
		}
		b.ReportAllocs()
		for b.Loop() {
			fill()
			for start := 0; start < legs; start += maxEvents {
				end := min(start+maxEvents, legs)
				for i := start; i < end; i++ {
					rb.queue(i-start, socks[i].fd, bufs[i-start][:])
				}
				if err := rb.submit(); err != nil {
					b.Fatal(err)
				}
				for i := start; i < end; i++ {
					if n, _, errno := rb.result(i - start); errno != 0 || n != len(pkt) {
						b.Fatalf("read %d (%v)", n, errno)
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*legs), "ns/packet")
	})
}

// readEachPacket has e's receive loops read each packet with its own
// recvfrom, as without io_uring, for a load test's A/B runs. Called
// before any socket is watched.
func readEachPacket(e *Engine) {
	for _, lp := range e.recv.loops {
		lp.mu.Lock()
		if lp.reads != nil {
			lp.reads.close()
			lp.reads = nil
		}
		lp.mu.Unlock()
	}
	e.readsBatched = false
}

// A ring that fails later (not one read's failure) leaves the loop
// reading each packet on its own: the packets of the wait it failed in
// stay queued and are read by the next wait, none lost or reordered.
func TestRecvLoopReadRingFails(t *testing.T) {
	const calls, burst = 10, 3
	e := testEngine(t, func(c *Config) { c.ReceiveLoops = 1 }, nil)
	if !e.Stats().IOUring.Receive {
		t.Skipf("io_uring receive unavailable here (%s)", e.Stats().IOUring.Unavailable)
	}
	a, b := make([]*phone, calls), make([]*phone, calls)
	ss := make([]*Session, calls)
	for c := range calls {
		a[c], b[c] = newPhone(t), newPhone(t)
		ss[c] = call(t, e, a[c], b[c], nil)
		send(t, a[c].rtp, earshotRTP(ss[c], 0), rtpPacket(t, 0, 0, 0, 0xA1, []byte{byte(c), 0}))
		recv(t, b[c].rtp)
	}
	lp := e.recv.loops[0]
	lp.mu.Lock()
	ringFD := lp.reads.ring.fd
	lp.reads.ring.fd = -1 // every io_uring_enter fails from now on (EBADF)
	for i := 1; i <= burst; i++ {
		for c := range calls {
			send(t, a[c].rtp, earshotRTP(ss[c], 0), rtpPacket(t, 0, uint16(i), 160*uint32(i), 0xA1, []byte{byte(c), byte(i)}))
		}
	}
	lp.mu.Unlock()
	for c := range calls {
		for i := 1; i <= burst; i++ {
			got, _ := recv(t, b[c].rtp)
			if got[12] != byte(c) || got[13] != byte(i) {
				t.Fatalf("call %d: packet % x, want %d", c, got[12:14], i)
			}
		}
	}
	lp.mu.Lock()
	broken := lp.reads.broken
	lp.reads.ring.fd = ringFD // for close
	lp.mu.Unlock()
	if !broken {
		t.Fatal("the ring's failure went unnoticed")
	}
}
