package rtpengine

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The load and delay measurements (load_test.go, delay_test.go) need fake
// phones that send thousands of 20 ms RTP streams without costing a
// goroutine per stream, and whose own CPU can be told apart from
// earshot's in the same process. A pacer does both: a few sender
// goroutines, each locked to its own OS thread, send every stream of
// theirs once per 20 ms on an absolute clock, and each reads its thread's
// CPU time (getrusage RUSAGE_THREAD) as it goes. A locked thread runs only
// its goroutine, so the sum over the senders is exactly what the fake
// phones cost, kernel side of the loopback sends included; the rest of
// the process's CPU is earshot's.

// loadEnv gates the measurements: they take tens of seconds to minutes,
// load the machine and report figures rather than pass or fail on them,
// so they are not for CI.
const loadEnv = "EARSHOT_LOAD"

func needLoadEnv(t *testing.T) {
	t.Helper()
	if os.Getenv(loadEnv) != "1" {
		t.Skipf("load measurement: set %s=1 to run (see docs/performance.md)", loadEnv)
	}
}

// paceSlots divides a frame into slots so that a sender's streams are
// spread over the 20 ms rather than sent in one burst per frame.
const paceSlots = 10

// paceStream is one fake phone's outgoing RTP stream. Each has its own
// socket, because earshot latches every leg to one source address.
type paceStream struct {
	conn    *net.UDPConn
	dst     netip.AddrPort
	ssrc    uint32
	seq     uint16
	ts      uint32
	payload []byte // 160 bytes of PCMU, shared read-only between streams
	// marker, if not nil, decides per packet whether to send markPayload
	// instead and is told the time of every send (delay_test.go).
	marker      func(n int, sent time.Time) bool
	markPayload []byte
	n           int
}

// paceSender is one sender goroutine's share of the streams, by slot.
type paceSender struct {
	slots  atomic.Pointer[[paceSlots][]*paceStream]
	cpu    atomic.Int64  // thread CPU time (user+system) in ns, updated each slot
	late   atomic.Uint64 // slots that started more than 2 ms after their deadline
	errors atomic.Uint64 // failed sends
	sent   atomic.Uint64
	next   int // round-robin slot for the next stream; guarded by pacer.mu
}

// pacer owns its sender goroutines: Close stops them and waits.
type pacer struct {
	mu      sync.Mutex // serialises add
	senders []*paceSender
	next    int // sender for the next stream
	stop    chan struct{}
	wg      sync.WaitGroup
}

// newPacer starts n sender goroutines on a common 20 ms clock, each offset
// by a fraction of a slot so that they do not wake together.
func newPacer(t testing.TB, n int) *pacer {
	p := &pacer{stop: make(chan struct{})}
	start := time.Now().Add(10 * time.Millisecond)
	slot := 20 * time.Millisecond / paceSlots
	for i := range n {
		s := &paceSender{}
		s.slots.Store(new([paceSlots][]*paceStream))
		p.senders = append(p.senders, s)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			s.run(start.Add(time.Duration(i)*slot/time.Duration(n)), slot, p.stop)
		}()
	}
	t.Cleanup(p.Close)
	return p
}

// add schedules st on the next sender and slot, round robin.
func (p *pacer) add(st *paceStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.senders[p.next%len(p.senders)]
	p.next++
	i := s.next % paceSlots
	s.next++
	s.addIn(i, st)
}

// addIn schedules st on sender i in slot k (0 ≤ k < paceSlots).
func (p *pacer) addIn(i, k int, st *paceStream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.senders[i].addIn(k, st)
}

// addIn publishes a copy of s's slots with st appended to slot k. Caller
// holds pacer.mu.
func (s *paceSender) addIn(k int, st *paceStream) {
	old := s.slots.Load()
	nw := *old // copies the array; only the changed slice is copied below
	nw[k] = append(append([]*paceStream(nil), old[k]...), st)
	s.slots.Store(&nw)
}

// Close stops the senders and waits for them. Idempotent.
func (p *pacer) Close() {
	p.mu.Lock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// cpu is the senders' total thread CPU time so far.
func (p *pacer) cpu() time.Duration {
	var d int64
	for _, s := range p.senders {
		d += s.cpu.Load()
	}
	return time.Duration(d)
}

// health sums the senders' late slots, send errors and packets sent.
func (p *pacer) health() (late, errs, sent uint64) {
	for _, s := range p.senders {
		late += s.late.Load()
		errs += s.errors.Load()
		sent += s.sent.Load()
	}
	return late, errs, sent
}

// run sends slot k of frame f at start + f×20 ms + k×slot. A sender that
// falls behind sends the missed slots back to back rather than skipping
// them, so the offered packet rate stays exact and lateness shows in late.
func (s *paceSender) run(start time.Time, slot time.Duration, stop <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 12+160)
	buf[0] = 0x80 // V=2, PT=0 (PCMU)
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	for k := 0; ; k++ {
		deadline := start.Add(time.Duration(k) * slot)
		if wait := time.Until(deadline); wait > 0 {
			timer.Reset(wait)
			select {
			case <-stop:
				return
			case <-timer.C:
			}
		} else {
			select {
			case <-stop:
				return
			default:
			}
			if -wait > 2*time.Millisecond {
				s.late.Add(1)
			}
		}
		for _, st := range s.slots.Load()[k%paceSlots] {
			st.send(s, buf)
		}
		s.cpu.Store(threadCPU())
	}
}

// send writes the stream's next packet through buf.
func (st *paceStream) send(s *paceSender, buf []byte) {
	binary.BigEndian.PutUint16(buf[2:], st.seq)
	binary.BigEndian.PutUint32(buf[4:], st.ts)
	binary.BigEndian.PutUint32(buf[8:], st.ssrc)
	payload := st.payload
	var now time.Time
	if st.marker != nil {
		now = time.Now()
		if st.marker(st.n, now) {
			payload = st.markPayload
		}
	}
	copy(buf[12:], payload)
	if _, err := st.conn.WriteToUDPAddrPort(buf, st.dst); err != nil {
		s.errors.Add(1)
	} else {
		s.sent.Add(1)
	}
	st.n++
	st.seq++
	st.ts += 160
}

// threadCPU is the calling thread's user+system CPU time in ns.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// processCPU is the whole process's user+system CPU time.
func processCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit raises the soft limit on open files to at least need (or
// the hard limit, whichever is lower) and returns the resulting limit.
func raiseFileLimit(t testing.TB, need uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < need {
		rl.Cur = min(need, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	return rl.Cur
}

// pcmuTone is 20 ms of a 400 Hz-ish square-free tone in PCMU: loud enough
// that the mixer's decode, sum and encode do real work.
func pcmuTone() []byte {
	p := make([]byte, 160)
	for i := range p {
		// µ-law bytes cycling over a mid-level range, both signs.
		p[i] = byte(0x20+i%20) | byte(i/10%2)<<7
	}
	return p
}
