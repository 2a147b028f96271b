//go:build !386

package rtpengine

import (
	"fmt"
	"math"
	"net/netip"
	"syscall"
	"unsafe"
)

// recvBatch reads the datagrams of one wait's readable sockets in one
// io_uring_enter, instead of one recvfrom each: under load a receive
// loop's wait reports dozens of sockets, each with a packet of a
// different call, and a system call per packet costs more on a VM than
// the kernel's copy of it (see "Batched receives" in docs/performance.md).
// Only its loop's goroutine uses it, under the loop's mutex, so the
// sockets it reads cannot be closed while it does.
type recvBatch struct {
	ring *uring
	n    uint32 // entries queued since the last submit
	msgs [maxEvents]syscall.Msghdr
	iovs [maxEvents]syscall.Iovec
	rsas [maxEvents]syscall.RawSockaddrAny
	res  [maxEvents]int32 // per event: bytes read, or -errno
	// broken is set when the ring failed in a way that is not one
	// read's; the loop then reads each socket itself. Owned by the loop.
	broken bool
}

// newRecvBatch sets up a batch and its ring, or returns the kernel's
// reason why not.
func newRecvBatch() (*recvBatch, error) {
	r, err := newURing(maxEvents)
	if err != nil {
		return nil, err
	}
	b := &recvBatch{ring: r}
	if err := b.probe(); err != nil {
		r.close()
		return nil, err
	}
	return b, nil
}

// probe reads a datagram and an empty socket through the ring: a kernel
// that cannot receive through it, or that would wait for a datagram
// despite MSG_DONTWAIT (which would stall a loop on an empty socket), is
// found here, at start. The empty read is submitted without waiting, so
// that even such a kernel cannot hang the probe.
func (b *recvBatch) probe() error {
	u, self, err := probeSocket()
	if err != nil {
		return fmt.Errorf("io_uring receive probe: %w", err)
	}
	defer u.Close()
	pkt := []byte("earshot io_uring probe")
	if _, err := u.WriteToUDPAddrPort(pkt, self); err != nil {
		return fmt.Errorf("io_uring receive probe: %w", err)
	}
	var bufs [2][64]byte
	b.queue(0, u.fd, bufs[0][:])
	b.queue(1, u.fd, bufs[1][:])
	b.n = 0
	const none = math.MinInt32 // no completion
	b.res[0], b.res[1] = none, none
	if err := b.ring.enter(); err != nil {
		return fmt.Errorf("io_uring receive probe: %w", err)
	}
	b.ring.reap(b)
	n, src, errno := b.result(0)
	switch {
	case b.res[0] == none || errno != 0 || n != len(pkt) || string(bufs[0][:n]) != string(pkt) || src != self:
		return fmt.Errorf("io_uring receive probe: the datagram was not read (result %d from %v)", b.res[0], src)
	case b.res[1] != -int32(syscall.EAGAIN):
		return fmt.Errorf("io_uring receive probe: a read of an empty socket did not fail at once (result %d)", b.res[1])
	}
	return nil
}

// queue queues a read of one datagram from fd into buf for event i.
func (b *recvBatch) queue(i int, fd int, buf []byte) {
	// A result the kernel never gives back reads as "nothing after
	// all": the socket stays readable and the next wait reports it.
	b.res[i] = -int32(syscall.EAGAIN)
	b.iovs[i].Base = &buf[0]
	b.iovs[i].SetLen(len(buf))
	b.msgs[i] = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&b.rsas[i])), Namelen: syscall.SizeofSockaddrAny, Iov: &b.iovs[i], Iovlen: 1}
	b.ring.recvmsg(fd, &b.msgs[i], uint64(i))
	b.n++
}

// submit reads every queued datagram in one system call and waits for
// all of them (none waits: MSG_DONTWAIT), so that no buffer is written
// after it returns.
func (b *recvBatch) submit() error {
	n := b.n
	b.n = 0
	return b.ring.submit(n, b)
}

// complete records the result of event tag's read.
func (b *recvBatch) complete(tag uint64, res int32) {
	if tag < maxEvents {
		b.res[tag] = res
	}
}

// result is event i's read, as recvFrom returns it.
func (b *recvBatch) result(i int) (int, netip.AddrPort, syscall.Errno) {
	if r := b.res[i]; r < 0 {
		return 0, netip.AddrPort{}, syscall.Errno(-r)
	}
	return int(b.res[i]), sockaddrToAddrPort(&b.rsas[i]), 0
}

func (b *recvBatch) close() { b.ring.close() }
