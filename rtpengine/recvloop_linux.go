//go:build !386

package rtpengine

import (
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// maxEvents bounds the sockets one epoll_wait reports. A larger batch
// spreads the wait over more packets; 128 is far more than are ready at
// once at the packet rates of telephony.
const maxEvents = 128

// recvLoops are the engine's receive loops: a fixed number of goroutines,
// each waiting on many sockets with one epoll instance, instead of one
// goroutine per socket. A socket sending 50 packets/s is idle between
// almost every packet, so a goroutine per socket pays a netpoller wake-up
// and a goroutine switch per packet; a loop pays one wake-up for every
// socket that became ready while it was busy or asleep.
type recvLoops struct {
	loops []*recvLoop
	next  atomic.Uint32 // round-robin choice of the loop for the next leg
	added int           // Ps added to GOMAXPROCS for dedicated loops
}

// newRecvLoops starts n loops (Config.ReceiveLoops), each with a P of its
// own if dedicated (Config.DedicatedReceive).
func newRecvLoops(n int, dedicated bool, log *slog.Logger) (*recvLoops, error) {
	r := &recvLoops{}
	if dedicated && asyncPreemptOff() {
		log.Warn("receive loops share the Ps: GODEBUG=asyncpreemptoff=1 would let a dedicated loop's wait hold up the garbage collector")
		dedicated = false
	}
	for range max(n, 1) {
		lp, err := newRecvLoop(log)
		if err != nil {
			r.close()
			return nil, err
		}
		lp.dedicated = dedicated
		r.loops = append(r.loops, lp)
	}
	if dedicated {
		r.added = len(r.loops)
		addProcs(r.added)
	}
	log.Info("media receive loops", "loops", len(r.loops), "dedicated", dedicated)
	for _, lp := range r.loops {
		go lp.run()
	}
	return r, nil
}

// dedicated reports whether the loops have Ps of their own.
func (r *recvLoops) dedicated() bool { return r.added > 0 }

// openFileLimit is the descriptors the process may open (the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard one at start),
// or 0 if unknown.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 0
	}
	return int(rl.Cur)
}

// asyncPreemptOff reports whether the runtime was told not to preempt by
// signal: then nothing would interrupt a dedicated loop's wait when the
// runtime stops the world.
func asyncPreemptOff() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "asyncpreemptoff=1" {
			return true
		}
	}
	return false
}

// start puts leg l's two sockets on one of the loops: from then on their
// packets are handed to s.onRTP and s.onRTCP. Closing a socket takes it off
// again. An error (the kernel refused the watch) leaves neither socket
// watched.
func (r *recvLoops) start(s *Session, l *leg) error {
	lp := r.loops[r.next.Add(1)%uint32(len(r.loops))]
	if err := lp.add(l.rtp.conn, s, l, false); err != nil {
		return err
	}
	if err := lp.add(l.rtcp.conn, s, l, true); err != nil {
		lp.remove(l.rtp.conn)
		return err
	}
	return nil
}

// park keeps leg l's two sockets bound and watched but takes them from the
// leg: from then on the loop reads what arrives on them and drops it
// (counted in quarantined), until adopt gives them to a new leg. It
// returns the sockets for the pool to keep; the leg's own are closed to
// it. It reports false when the sockets are not watched by a loop (the
// caller closes them). When it returns no packet reaches l any more.
func (r *recvLoops) park(l *leg) (rtp, rtcp *udpSock, ok bool) {
	return l.rtp.conn.loop.park(l.rtp.conn, l.rtcp.conn)
}

// adopt hands leg l's sockets, parked by an earlier leg, to l on the loop
// that watches them, with no system call; false if they are not parked.
func (r *recvLoops) adopt(s *Session, l *leg) bool {
	return l.rtp.conn.loop.adopt(l.rtp.conn, l.rtcp.conn, s, l)
}

// batchSends gives every loop a batch for the RTP it relays (see
// recvLoop.batch), before any socket is watched. It reports the kernel's
// error, leaving every loop sending each packet on its own, when io_uring
// cannot be set up.
func (r *recvLoops) batchSends(log *slog.Logger) error {
	batches, err := perLoop(len(r.loops), func() (*sendBatch, error) { return newSendBatch(log) }, (*sendBatch).close)
	if err != nil {
		return err
	}
	for i, lp := range r.loops {
		lp.mu.Lock()
		lp.batch = batches[i]
		if lp.bufs == nil {
			lp.bufs = new([maxEvents][readBufSize]byte)
		}
		lp.mu.Unlock()
	}
	return nil
}

// batchReads gives every loop a batch for its reads (see recvLoop.reads),
// before any socket is watched. It reports the kernel's error, leaving
// every loop reading each socket on its own, when io_uring cannot be set
// up or cannot receive.
func (r *recvLoops) batchReads() error {
	batches, err := perLoop(len(r.loops), newRecvBatch, (*recvBatch).close)
	if err != nil {
		return err
	}
	for i, lp := range r.loops {
		lp.mu.Lock()
		lp.reads = batches[i]
		if lp.bufs == nil {
			lp.bufs = new([maxEvents][readBufSize]byte)
		}
		lp.mu.Unlock()
	}
	return nil
}

// perLoop makes one of something per loop, or none: on the first error
// it closes those it made and returns the error.
func perLoop[T any](n int, open func() (T, error), release func(T)) ([]T, error) {
	out := make([]T, 0, n)
	for range n {
		v, err := open()
		if err != nil {
			for _, v := range out {
				release(v)
			}
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// interrupts is the number of waits a signal ended, over all loops.
func (r *recvLoops) interrupts() uint64 {
	var n uint64
	for _, lp := range r.loops {
		n += lp.interrupts.Load()
	}
	return n
}

// quarantined is the number of packets dropped on parked sockets.
func (r *recvLoops) quarantined() uint64 {
	var n uint64
	for _, lp := range r.loops {
		n += lp.quarantined.Load()
	}
	return n
}

// caughtUp is the packets the loops read to catch up before a hand-over
// to the kernel (recvLoop.catchUp).
func (r *recvLoops) caughtUp() uint64 {
	var n uint64
	for _, lp := range r.loops {
		n += lp.caughtUp.Load()
	}
	return n
}

// ringReads is the reads the loops queued in their io_uring batches.
func (r *recvLoops) ringReads() uint64 {
	var n uint64
	for _, lp := range r.loops {
		n += lp.ringReads.Load()
	}
	return n
}

// close stops every loop and waits for them. Their sockets must have been
// closed before.
func (r *recvLoops) close() {
	for _, lp := range r.loops {
		lp.stop()
	}
	if r.added > 0 {
		addProcs(-r.added)
		r.added = 0
	}
}

// recvLoop is one receive loop: an epoll instance, level-triggered, and the
// goroutine that waits on it. For every socket reported readable it reads
// one datagram and calls the packet path; a socket with more queued is
// reported again by the next wait, so one busy socket cannot starve the
// others and no read is spent on finding a queue empty.
//
// An epoll event names a slot and its generation, never a descriptor, and
// the goroutine holds mu while it handles a batch of events. remove takes
// the same mutex and bumps the slot's generation, so once it returns no
// event reported before it can reach the socket: the descriptor may be
// closed and its number reused.
type recvLoop struct {
	log  *slog.Logger
	epfd int
	wake [2]int        // a pipe; stop writes to wake[1], which epoll watches as slot wakeSlot
	done chan struct{} // closed when run returns

	// dedicated: the loop waits without telling the runtime (wait); set
	// before run starts.
	dedicated bool

	mu      sync.Mutex // guards the fields below; held by run while it handles events
	slots   []recvSlot
	free    []uint32 // indexes of unused slots
	stopped bool     // stop was called: epfd is closed or about to be

	quarantined atomic.Uint64 // packets read and dropped on parked sockets
	interrupts  atomic.Uint64 // waits ended by a signal (EINTR)
	caughtUp    atomic.Uint64 // packets catchUp read
	ringReads   atomic.Uint64 // reads queued in reads (one or none per event)

	// Owned by run.
	events [maxEvents]syscall.EpollEvent
	buf    [readBufSize]byte
	rsa    syscall.RawSockaddrAny
	// batch, when set (batchSends), queues the RTP the loop relays
	// while it handles the events of one wait and sends it all in one
	// system call after them; each event then reads into its own buffer
	// of bufs, which the queued packet uses until it is sent.
	batch *sendBatch
	bufs  *[maxEvents][readBufSize]byte
	// reads, when set (batchReads), reads the datagrams of one wait in
	// one system call before the packet path runs on any of them, each
	// into its own buffer of bufs.
	reads *recvBatch
}

// wakeSlot marks the stop pipe's event.
const wakeSlot = -1

// recvSlot is a watched socket and where its packets go. sock == nil: the
// slot is free; s == nil: the socket is parked (its port in quarantine).
type recvSlot struct {
	gen  uint32
	sock *udpSock
	s    *Session
	l    *leg
	rtcp bool
}

func newRecvLoop(log *slog.Logger) (*recvLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("rtpengine: epoll: %w", err)
	}
	lp := &recvLoop{log: log, epfd: epfd, done: make(chan struct{})}
	if err := syscall.Pipe2(lp.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("rtpengine: pipe: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeSlot}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, lp.wake[0], &ev); err != nil {
		lp.closeFDs()
		return nil, fmt.Errorf("rtpengine: epoll: %w", err)
	}
	return lp, nil
}

// add watches sock; its packets go to s.onRTCP(l, ...) if rtcp, else to
// s.onRTP(l, ...).
func (lp *recvLoop) add(sock *udpSock, s *Session, l *leg, rtcp bool) error {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.stopped {
		return newError(ErrClosed, "")
	}
	var i uint32
	if n := len(lp.free); n > 0 {
		i = lp.free[n-1]
		lp.free = lp.free[:n-1]
	} else {
		i = uint32(len(lp.slots))
		lp.slots = append(lp.slots, recvSlot{})
	}
	sl := &lp.slots[i]
	*sl = recvSlot{gen: sl.gen, sock: sock, s: s, l: l, rtcp: rtcp}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i), Pad: int32(sl.gen)}
	if err := syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_ADD, sock.fd, &ev); err != nil {
		*sl = recvSlot{gen: sl.gen + 1}
		lp.free = append(lp.free, i)
		return newError(ErrNoPorts, "watch socket: "+err.Error())
	}
	sock.loop, sock.slot = lp, i
	return nil
}

// remove stops watching sock. When it returns, the loop neither reads sock
// nor will: the caller may close it. Removing a socket that is not watched
// does nothing.
func (lp *recvLoop) remove(sock *udpSock) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if int(sock.slot) >= len(lp.slots) || lp.slots[sock.slot].sock != sock {
		return
	}
	sl := &lp.slots[sock.slot]
	if !lp.stopped {
		var ev syscall.EpollEvent // ignored, but kernels before 2.6.9 want one
		// The descriptor is still open, so this cannot fail in a way
		// that matters: the generation below voids its pending events.
		syscall.EpollCtl(lp.epfd, syscall.EPOLL_CTL_DEL, sock.fd, &ev)
	}
	*sl = recvSlot{gen: sl.gen + 1}
	lp.free = append(lp.free, sock.slot)
}

// watches reports whether lp watches sock. Caller holds lp.mu.
func (lp *recvLoop) watches(sock *udpSock) bool {
	return !lp.stopped && int(sock.slot) < len(lp.slots) && lp.slots[sock.slot].sock == sock
}

// park takes a leg's two sockets, both watched by lp, from the leg (see
// recvLoops.park) and returns them in new wrappers: the leg's own ones
// are marked closed, so a late write through the old leg fails as it did
// when the sockets were closed, while the descriptors live on. False,
// changing nothing, if lp does not watch both.
func (lp *recvLoop) park(rtp, rtcp *udpSock) (prtp, prtcp *udpSock, ok bool) {
	if lp == nil {
		return nil, nil, false
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !lp.watches(rtp) || !lp.watches(rtcp) {
		return nil, nil, false
	}
	out := [2]*udpSock{}
	for i, sock := range [2]*udpSock{rtp, rtcp} {
		out[i] = &udpSock{fd: sock.fd, six: sock.six, loop: lp, slot: sock.slot}
		sock.mu.Lock()
		sock.closed = true
		sock.mu.Unlock()
		sl := &lp.slots[sock.slot]
		sl.sock, sl.s, sl.l = out[i], nil, nil
	}
	return out[0], out[1], true
}

// adopt gives two parked sockets to leg l of s (see recvLoops.adopt);
// false, changing nothing, unless lp watches both and both are parked.
func (lp *recvLoop) adopt(rtp, rtcp *udpSock, s *Session, l *leg) bool {
	if lp == nil {
		return false
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !lp.watches(rtp) || !lp.watches(rtcp) || lp.slots[rtp.slot].s != nil || lp.slots[rtcp.slot].s != nil {
		return false
	}
	for _, sock := range []*udpSock{rtp, rtcp} {
		sl := &lp.slots[sock.slot]
		sl.s, sl.l = s, l
	}
	return true
}

// run is the loop's goroutine. It returns once stop has been called.
func (lp *recvLoop) run() {
	defer close(lp.done)
	for {
		n, errno := lp.wait()
		if errno != 0 {
			if errno == syscall.EINTR {
				// A dedicated loop's wait ends so when the runtime
				// signals its thread to preempt it: to stop the world,
				// to scan this goroutine's stack, or after 10 ms on its
				// P. The runtime asked by poisoning the goroutine's
				// stack guard before it signalled, so the prologue of
				// the next call to wait (kept a call: go:noinline)
				// parks the goroutine the way that request wants —
				// suspended for a stack scan, or descheduled. A
				// runtime.Gosched here would instead reschedule it
				// at once, clear the request, and leave the collector
				// to ask again and again (about 700 interrupted waits
				// and 8 ms per collection, BenchmarkStopTheWorld).
				lp.interrupts.Add(1)
				continue
			}
			lp.log.Error("epoll wait failed: media on this loop stops", "err", errno)
			return
		}
		if lp.handle(lp.events[:n]) {
			return
		}
	}
}

// wait blocks until sockets are readable and returns how many events it
// put in lp.events.
//
// A shared loop waits in an ordinary blocking system call: the runtime
// marks the P free on the way in, and after 20 µs asleep sysmon hands it
// to another thread, so most waits end by winning a P back, which at
// about one packet per wake-up costs more than the packet. A dedicated
// loop waits in a raw call instead: its P stays its own while the thread
// sleeps in the kernel (the engine added that P to GOMAXPROCS, so the
// rest of the process keeps the Ps it had), and a wake-up is just the
// system call's return. The runtime still preempts it by signal, which
// ends the wait with EINTR.
//
//go:noinline
func (lp *recvLoop) wait() (int, syscall.Errno) {
	if !lp.dedicated {
		n, err := syscall.EpollWait(lp.epfd, lp.events[:], -1)
		if err != nil {
			errno, _ := err.(syscall.Errno)
			return 0, errno
		}
		return n, 0
	}
	// epoll_pwait with no signal mask is epoll_wait, and exists on every
	// Linux architecture (arm64 has no epoll_wait).
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(lp.epfd),
		uintptr(unsafe.Pointer(&lp.events[0])), uintptr(len(lp.events)), ^uintptr(0), 0, 0)
	return int(r), errno
}

// handle reads one datagram from each socket of a batch of events and
// runs the packet path on it. It reports whether the stop pipe was among
// them.
func (lp *recvLoop) handle(events []syscall.EpollEvent) (stop bool) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	batched := lp.readAll(events)
	buf := lp.buf[:]
	for i := range events {
		if lp.bufs != nil {
			buf = lp.bufs[i][:]
		}
		ev := &events[i]
		if ev.Fd == wakeSlot {
			stop = true
			continue
		}
		sl := lp.slot(ev)
		if sl == nil {
			continue
		}
		var n int
		var src netip.AddrPort
		var errno syscall.Errno
		if batched {
			n, src, errno = lp.reads.result(i)
		} else {
			n, src, errno = sl.sock.recvFrom(buf, &lp.rsa)
		}
		if errno != 0 {
			// EAGAIN: nothing after all. Anything else (a pending
			// ICMP error) is consumed by the read; the next packet
			// is read normally.
			continue
		}
		switch {
		case sl.s == nil:
			// A parked socket: a late packet of a finished call, or a
			// stray one. Reading it keeps the next call's queue clean.
			lp.quarantined.Add(1)
		case sl.rtcp:
			sl.s.onRTCPSocket(sl.l, buf[:n], src)
		default:
			sl.s.onRTPSocket(sl.l, buf[:n], src, lp.batch)
			if sl.l.catchUp {
				lp.catchUp(sl, buf)
			}
		}
	}
	if lp.batch != nil {
		lp.batch.flush()
	}
	return stop
}

// slot is the socket an event reports, or nil: the stop pipe, or a socket
// removed after the wait reported it. Caller holds lp.mu.
func (lp *recvLoop) slot(ev *syscall.EpollEvent) *recvSlot {
	if ev.Fd < 0 || int(ev.Fd) >= len(lp.slots) {
		return nil
	}
	sl := &lp.slots[ev.Fd]
	if sl.sock == nil || sl.gen != uint32(ev.Pad) {
		return nil
	}
	return sl
}

// readAll reads the datagram of every socket events report, each into
// its own buffer of bufs, in one system call (see recvBatch), and reports
// whether it did. A wait that reports one socket is read the plain way,
// as is every wait once the ring has failed. Caller holds lp.mu.
func (lp *recvLoop) readAll(events []syscall.EpollEvent) bool {
	if lp.reads == nil || lp.reads.broken || len(events) < 2 {
		return false
	}
	var queued uint64
	for i := range events {
		if sl := lp.slot(&events[i]); sl != nil {
			lp.reads.queue(i, sl.sock.fd, lp.bufs[i][:])
			queued++
		}
	}
	if queued == 0 {
		return false
	}
	lp.ringReads.Add(queued)
	if err := lp.reads.submit(); err != nil {
		// Not one read's failure: the ring itself. Reads that did not
		// complete left their datagram queued, and the socket readable
		// for the next wait.
		lp.reads.broken = true
		lp.log.Warn("media receive: io_uring failed, reading each packet on its own from now on", "err", err)
	}
	return true
}

// maxCatchUp bounds the packets catchUp reads from one socket in a row,
// so that one stream's burst does not hold up the loop's other sockets.
const maxCatchUp = 8

// catchUp reads and relays the packets queued on sl's RTP socket while
// the relay asks for it (leg.catchUp: the stream is ready for the kernel
// but older packets wait on the socket), so that the hand-over happens
// now rather than after a round of the loop that would find the next
// packet queued again. It reuses buf, which only a loop that does not
// batch its sends may: with the kernel relay on the loops never batch
// (Engine.batchRelay), and only the kernel relay asks for a catch-up.
func (lp *recvLoop) catchUp(sl *recvSlot, buf []byte) {
	for range maxCatchUp {
		if !sl.l.catchUp || lp.batch != nil {
			break
		}
		sl.l.catchUp = false
		n, src, errno := sl.sock.recvFrom(buf, &lp.rsa)
		if errno != 0 {
			return
		}
		lp.caughtUp.Add(1)
		sl.s.onRTPSocket(sl.l, buf[:n], src, lp.batch)
	}
	sl.l.catchUp = false
}

// stop ends run, waits for it and closes the loop's descriptors. Sockets
// still watched are forgotten; add fails from now on.
func (lp *recvLoop) stop() {
	lp.mu.Lock()
	lp.stopped = true
	lp.mu.Unlock()
	var b [1]byte
	syscall.Write(lp.wake[1], b[:])
	<-lp.done
	lp.closeFDs()
	if lp.batch != nil {
		lp.batch.close()
	}
	if lp.reads != nil {
		lp.reads.close()
	}
}

func (lp *recvLoop) closeFDs() {
	syscall.Close(lp.wake[0])
	syscall.Close(lp.wake[1])
	syscall.Close(lp.epfd)
}
