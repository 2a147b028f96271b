//go:build !386

package rtpengine

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// uring is the least of io_uring that sends and receives datagrams: a
// submission queue of IORING_OP_SENDMSG or IORING_OP_RECVMSG entries, each
// naming its own socket, handed to the kernel in one io_uring_enter, and a
// completion queue read back in the same call. A mixer tick writes one
// frame on each of hundreds of sockets, and a receive loop's wait finds
// dozens of sockets readable; sendmmsg and recvmmsg batch only the
// messages of one socket, and a system call per packet costs more than
// the kernel's work for the packet (see docs/performance.md). One
// goroutine owns a ring: nothing here locks.
type uring struct {
	fd     int
	mem    []byte // the rings (one mapping where the kernel allows)
	cqMem  []byte // the completion ring when it is mapped on its own
	sqeMem []byte

	sqHead, sqTail, sqMask *uint32
	sqArray                []uint32
	sqes                   []uringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   []uringCQE
}

// The kernel's structures (include/uapi/linux/io_uring.h).
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringSQE struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	msgFlags uint32
	userData uint64
	bufIndex uint16
	persona  uint16
	spliceFD int32
	addr3    uint64
	_        uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

const (
	uringOpSendmsg       = 9
	uringOpRecvmsg       = 10
	uringEnterGetevents  = 1
	uringFeatSingleMmap  = 1
	uringOffSQRing       = 0
	uringOffCQRing       = 0x8000000
	uringOffSQEs         = 0x10000000
	uringSetupCQSize     = 1 << 3
	uringSetupSubmitAll  = 1 << 7
	uringSetupCoopTaskrn = 1 << 8
)

// newURing sets up a ring of entries submissions (a power of two) and
// twice as many completions. Where io_uring is missing or forbidden (an
// old kernel, kernel.io_uring_disabled, a seccomp filter) it returns the
// kernel's error.
func newURing(entries uint32) (*uring, error) {
	p := uringParams{flags: uringSetupCQSize | uringSetupSubmitAll | uringSetupCoopTaskrn, cqEntries: 2 * entries}
	fd, _, errno := syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == syscall.EINVAL {
		// A kernel older than 5.19 knows neither SUBMIT_ALL nor
		// COOP_TASKRUN: neither is needed.
		p = uringParams{flags: uringSetupCQSize, cqEntries: 2 * entries}
		fd, _, errno = syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd)}
	if err := r.mmap(&p); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *uring) mmap(p *uringParams) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(uringCQE{}))
	single := p.features&uringFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.mem, err = unix.Mmap(r.fd, uringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("io_uring mmap: %w", err)
	}
	cq := r.mem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, uringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			return fmt.Errorf("io_uring mmap: %w", err)
		}
		cq = r.cqMem
	}
	if r.sqeMem, err = unix.Mmap(r.fd, uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("io_uring mmap: %w", err)
	}
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	r.sqHead, r.sqTail, r.sqMask = u32(r.mem, p.sqOff.head), u32(r.mem, p.sqOff.tail), u32(r.mem, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.mem, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail, r.cqMask = u32(cq, p.cqOff.head), u32(cq, p.cqOff.tail), u32(cq, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.cqEntries)
	return nil
}

// sendmsg queues a sendmsg of msg on fd, tagged with tag; the caller
// queues at most entries of them between two submits. It never waits for
// room in a socket's buffer: a full one fails the send (EAGAIN) instead
// of leaving it in flight, as the relay drops rather than queues.
func (r *uring) sendmsg(fd int, msg *syscall.Msghdr, tag uint64) {
	r.queue(uringOpSendmsg, fd, msg, tag)
}

// recvmsg queues a recvmsg into msg on fd, tagged with tag, under the same
// rule as sendmsg. It never waits for a datagram: an empty socket
// completes at once with -EAGAIN (MSG_DONTWAIT, which io_uring honours
// rather than arming a poll), so the submit that carries it cannot block
// on it.
func (r *uring) recvmsg(fd int, msg *syscall.Msghdr, tag uint64) {
	r.queue(uringOpRecvmsg, fd, msg, tag)
}

// queue queues one sendmsg or recvmsg (op) of msg on fd, with
// MSG_DONTWAIT.
func (r *uring) queue(op uint8, fd int, msg *syscall.Msghdr, tag uint64) {
	tail := atomic.LoadUint32(r.sqTail)
	i := tail & *r.sqMask
	r.sqes[i] = uringSQE{
		opcode:   op,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(msg))),
		len:      1,
		msgFlags: syscall.MSG_DONTWAIT,
		userData: tag,
	}
	r.sqArray[i] = i
	atomic.StoreUint32(r.sqTail, tail+1)
}

// uringCompleter takes the completions of a submit: the tag each entry
// was queued with and its result (bytes, or -errno).
type uringCompleter interface {
	complete(tag uint64, res int32)
}

// pending is the number of queued sends the kernel has not taken yet.
func (r *uring) pending() uint32 {
	return atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead)
}

// submit hands the queued entries to the kernel and waits until n of them
// have completed: all of them, since none may wait (MSG_DONTWAIT), so no
// send reads its message, and no receive writes its buffer, after submit
// returns. It passes each completion to b.complete.
func (r *uring) submit(n uint32, b uringCompleter) error {
	for n > 0 {
		_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending()), uintptr(n), uringEnterGetevents, 0, 0)
		got := r.reap(b)
		n -= min(n, got)
		switch {
		case errno == 0, errno == syscall.EINTR, errno == syscall.EAGAIN && got > 0:
		default:
			if got == 0 {
				return fmt.Errorf("io_uring_enter: %w", errno)
			}
		}
	}
	return nil
}

// enter hands the queued entries to the kernel without waiting for any
// completion.
func (r *uring) enter() error {
	_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending()), 0, 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("io_uring_enter: %w", errno)
	}
	return nil
}

// reap passes each completion to b.complete and frees them; it returns
// their number.
func (r *uring) reap(b uringCompleter) uint32 {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	mask := *r.cqMask
	for h := head; h != tail; h++ {
		c := &r.cqes[h&mask]
		b.complete(c.userData, c.res)
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}

func (r *uring) close() {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.mem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	syscall.Close(r.fd)
}
