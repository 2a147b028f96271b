//go:build !386

package rtpengine

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// sendBatchSize is how many packets a batch holds before it sends them
// early: a submission ring of this size per mixer worker and receive loop.
const sendBatchSize = 1024

// sendBatch queues the packets one goroutine sends — a mixer worker's
// frames of one tick, a receive loop's relayed packets of one wait — and
// sends them all in one io_uring_enter afterwards (the pool's AfterTick,
// the end of recvLoop.handle), instead of one sendto each. Only its
// goroutine uses it. A queued packet is the caller's own buffer (a leg's
// frame buffer, a loop's read buffer), untouched until the flush, so
// nothing is copied.
type sendBatch struct {
	ring *uring
	log  *slog.Logger
	n    int
	ents [sendBatchSize]batchEntry
	msgs [sendBatchSize]syscall.Msghdr
	iovs [sendBatchSize]syscall.Iovec
	sas  [sendBatchSize]syscall.RawSockaddrInet6

	// broken is set when the ring failed in a way that is not one send's:
	// from then on the batch sends each frame with sendto as it comes.
	broken atomic.Bool
}

// batchEntry is one queued frame: where it goes and whose counters a
// failed send takes back.
type batchEntry struct {
	sock *udpSock
	out  *outStream // whose queuedIn the flush clears
	s    *Session
	// mixed: a mixer frame (a failed send is taken back from the mixer's
	// frames too), else a relayed packet.
	mixed bool
	to    Party
	size  int
	// locked: the flush holds sock's read lock; done: the send completed.
	locked, done bool
}

// newSendBatch sets up a batch and its ring, or returns the kernel's
// reason why not.
func newSendBatch(log *slog.Logger) (*sendBatch, error) {
	r, err := newURing(sendBatchSize)
	if err != nil {
		return nil, err
	}
	b := &sendBatch{ring: r, log: log}
	if err := b.probe(); err != nil {
		r.close()
		return nil, err
	}
	return b, nil
}

// probe sends two datagrams through the ring from a loopback socket to
// itself and reads them back: a kernel that sets up a ring but cannot
// send through it (an operation it does not know, a filter) is found
// here, at start, rather than by every mixed frame failing.
func (b *sendBatch) probe() error {
	u, self, err := probeSocket()
	if err != nil {
		return fmt.Errorf("io_uring probe: %w", err)
	}
	defer u.Close()
	var s Session
	var out outStream
	pkt := []byte("earshot io_uring probe")
	for range 2 { // two: a batch of one goes by sendto
		if err := b.add(u, &out, pkt, self, &s, Caller, false); err != nil {
			return fmt.Errorf("io_uring probe: %w", err)
		}
	}
	b.flush()
	if b.broken.Load() {
		return fmt.Errorf("io_uring probe: the ring failed")
	}
	if n := s.counters.dropWrite.Load(); n != 0 {
		return fmt.Errorf("io_uring probe: %d of 2 sends failed", n)
	}
	var buf [64]byte
	var rsa syscall.RawSockaddrAny
	for i := range 2 {
		if n, _, errno := u.recvFrom(buf[:], &rsa); errno != 0 || n != len(pkt) {
			return fmt.Errorf("io_uring probe: datagram %d of 2 not received (%v)", i+1, errno)
		}
	}
	return nil
}

// probeSocket is a loopback socket for a start-up probe of the ring and
// its own address, to which it can send itself datagrams.
func probeSocket() (*udpSock, netip.AddrPort, error) {
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	u, err := listenUDP("udp4", netip.AddrPortFrom(lo, 0))
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	sa, err := syscall.Getsockname(u.fd)
	if err != nil {
		u.Close()
		return nil, netip.AddrPort{}, err
	}
	return u, netip.AddrPortFrom(lo, uint16(sa.(*syscall.SockaddrInet4).Port)), nil
}

// add queues pkt from sock to addr for the session s (to: the party
// that hears it, for the counters), sending the batch first when it is
// full. The error is for a frame that cannot be sent at all (an address
// the socket's family cannot reach); a send that fails later is taken back
// from the session's counters by the flush.
//
// out is the stream the packet belongs to, whose lock the caller holds:
// its queuedIn names this batch until the packet has been sent (see
// outStream.waitQueued). mixed says a mixer frame, not a relayed packet.
func (b *sendBatch) add(sock *udpSock, out *outStream, pkt []byte, addr netip.AddrPort, s *Session, to Party, mixed bool) error {
	if b.broken.Load() {
		_, err := sock.WriteToUDPAddrPort(pkt, addr)
		return err
	}
	if b.n == sendBatchSize {
		b.flush()
	}
	i := b.n
	salen, err := sock.sockaddr(addr, &b.sas[i])
	if err != nil {
		return err
	}
	out.queuedIn.Store(b)
	b.iovs[i].Base = &pkt[0]
	b.iovs[i].SetLen(len(pkt))
	b.msgs[i] = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&b.sas[i])), Namelen: salen, Iov: &b.iovs[i], Iovlen: 1}
	b.ents[i] = batchEntry{sock: sock, out: out, s: s, to: to, size: len(pkt), mixed: mixed}
	b.n++
	return nil
}

// flush sends the queued frames in one system call and forgets them.
// Each socket's read lock is held across the call, as for a sendto, so
// no descriptor can be closed and its number reused under the kernel's
// feet; a socket closed since its frame was queued is skipped.
func (b *sendBatch) flush() {
	if b.n == 0 {
		return
	}
	ents := b.ents[:b.n]
	var queued uint32
	for i := range ents {
		e := &ents[i]
		e.sock.mu.RLock()
		e.locked = true
		switch {
		case e.sock.closed:
		case len(ents) == 1:
			// One packet (a receive loop woken for one socket, the
			// common case at low load): a plain sendto costs less
			// than a ring round trip.
			e.done = true
			b.sendto(e, i)
		default:
			b.ring.sendmsg(e.sock.fd, &b.msgs[i], uint64(i))
			queued++
		}
	}
	if err := b.ring.submit(queued, b); err != nil {
		// Not one send's failure: the ring itself. What did not
		// complete is sent the old way, and so is all that follows.
		b.broken.Store(true)
		b.log.Warn("media sends: io_uring failed, sending each packet on its own from now on", "err", err)
		for i := range ents {
			if e := &ents[i]; !e.done && !e.sock.closed {
				e.done = true
				b.sendto(e, i)
			}
		}
	}
	for i := range ents {
		e := &ents[i]
		if !e.done {
			e.unsent() // its socket closed
		}
		if e.locked {
			e.sock.mu.RUnlock()
		}
		e.out.queuedIn.CompareAndSwap(b, nil)
		ents[i] = batchEntry{}
	}
	b.n = 0
}

// sendto sends entry i with a plain sendto; the caller holds its
// socket's read lock.
func (b *sendBatch) sendto(e *batchEntry, i int) {
	if errno := e.sock.sendtoLocked(unsafe.Pointer(b.iovs[i].Base), int(b.iovs[i].Len), &b.sas[i], b.msgs[i].Namelen); errno != 0 {
		e.unsent()
	}
}

// unsent takes back the counting of the entry's packet, whose send failed.
func (e *batchEntry) unsent() {
	if e.mixed {
		e.s.unsentFrame(e.to, e.size)
		return
	}
	e.s.uncountRelayed(&e.s.counters.rtpPackets, e.to, e.size)
}

// complete records the result of the send tagged tag.
func (b *sendBatch) complete(tag uint64, res int32) {
	if tag >= uint64(b.n) {
		return
	}
	e := &b.ents[tag]
	e.done = true
	if res < 0 {
		e.unsent()
	}
}

// close releases the ring. The pool's workers have stopped.
func (b *sendBatch) close() { b.ring.close() }
