package rtpengine

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// TestLoadSupervised measures how many supervised calls one mixer worker
// carries: it ramps up calls of three legs each (customer, agent and a
// supervisor in listen mode, every phone sending 20 ms PCMU over loopback)
// on an engine with Mixer.Workers = 1, and at each step reports the mixer's
// tick lateness over a window (from Stats().Mixer.TickLateness deltas, to
// the histogram's bucket bounds), what the mixer received and produced, and
// the CPU of earshot and of the fake phones separately. It asserts only
// that the measurement itself worked (every call mixed, packets flowing);
// the figures are for docs/performance.md.
//
//	EARSHOT_LOAD=1 go test ./rtpengine/ -run TestLoadSupervised -v -timeout 30m
//
// EARSHOT_LOAD_STEPS (comma-separated call counts) and EARSHOT_LOAD_WINDOW
// (a Go duration) override the ramp and the window; go test's -cpu sets
// GOMAXPROCS. EARSHOT_LOAD_MODE (listen, whisper or barge; default listen)
// is the supervisors' mode: in listen the mixer makes one frame per call per
// tick (the supervisor's), the relay feeds the customer and the agent; in
// barge it makes three. EARSHOT_LOAD_KERNEL=1 turns the in-kernel relay on
// (KernelOn: the test fails where it cannot load): a listened call's two
// streams then go to the kernel, which copies the parties' audio to the
// mixer. EARSHOT_LOAD_WORKERS sets the number of mixer workers (default 1;
// the lateness histogram then mixes all workers' ticks).
// EARSHOT_LOAD_IOURING=off sends each mixed frame with its own sendto
// instead of the worker's io_uring batch, and reads and relays each packet
// on its own; EARSHOT_LOAD_READS=each keeps the batched sends but reads
// each packet with its own recvfrom. EARSHOT_LOAD_RECEIVE=shared
// lets the receive loops share the Ps (the default is the product's:
// dedicated, Ps of their own). The ramp stops
// after the first step whose p99
// lateness is above 20 ms or that skipped ticks.
func TestLoadSupervised(t *testing.T) {
	needLoadEnv(t)
	mode := mixer.ModeListen
	switch m := os.Getenv("EARSHOT_LOAD_MODE"); m {
	case "", "listen":
	case "whisper":
		mode = mixer.ModeWhisper
	case "barge":
		mode = mixer.ModeBarge
	default:
		t.Fatalf("EARSHOT_LOAD_MODE=%q: want listen, whisper or barge", m)
	}
	steps := envSteps(t, "EARSHOT_LOAD_STEPS", []int{100, 200, 300, 400, 500, 750, 1000, 1250, 1500})
	window := envDuration(t, "EARSHOT_LOAD_WINDOW", 10*time.Second)
	// Each call holds 3 RTP/RTCP port pairs on earshot and 3 phone sockets.
	const portMin, portMax = 20000, 29999
	maxCalls := pairsIn(portMin, portMax) / 3
	limit := raiseFileLimit(t, uint64(9*steps[len(steps)-1]+512))
	maxCalls = min(maxCalls, (int(limit)-512)/9)

	workers := 1
	if w := os.Getenv("EARSHOT_LOAD_WORKERS"); w != "" {
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			t.Fatalf("EARSHOT_LOAD_WORKERS=%q: want a positive number", w)
		}
		workers = n
	}
	kern := KernelOff
	if os.Getenv("EARSHOT_LOAD_KERNEL") == "1" {
		kern = KernelOn
	}
	uring := IOUringAuto
	if os.Getenv("EARSHOT_LOAD_IOURING") == "off" {
		uring = IOUringOff
	}
	e, err := newEngine(Config{BindAddr: loopback, PortMin: portMin, PortMax: portMax,
		Mixer: mixer.PoolConfig{Workers: workers}, KernelRelay: kern, IOUring: uring,
		DedicatedReceive: os.Getenv("EARSHOT_LOAD_RECEIVE") != "shared"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("EARSHOT_LOAD_READS") == "each" {
		readEachPacket(e)
	}
	t.Logf("mixer sends: io_uring %+v; receive loops dedicated: %v", e.Stats().IOUring, e.recv.dedicated())
	t.Cleanup(func() { e.Close() })
	p := newPacer(t, 2)
	defer p.Close()
	tone := pcmuTone()

	t.Logf("GOMAXPROCS=%d NumCPU=%d mixer workers=%d mode=%v kernel relay=%v window=%v open-file limit=%d (max %d calls)",
		runtimeProcs(), numCPU(), workers, mode, kern == KernelOn, window, limit, maxCalls)
	t.Log(loadHeader)
	t.Log(measureLoad(t, e, p, 0, 2*time.Second).row())

	var sessions []*Session
	var best loadResult // the largest step with p99 lateness within 2 ms
	// upto is the largest step that kept it with every step before it:
	// a ramp is not always monotone (a step disturbed by the machine can
	// fall behind and a larger one keep up), and "within 2 ms up to N
	// calls" must not name a load a smaller one failed.
	upto, broken := 0, false
	defer func() {
		if best.calls == 0 {
			t.Log("summary: no step kept p99 tick lateness within 2 ms")
			return
		}
		perCall := best.earshot.Seconds() / best.wall.Seconds() / float64(best.calls) // cores
		t.Logf("summary: p99 tick lateness within 2 ms at %d calls on %d worker(s) (%.1f %% of ticks), and in every step up to %d calls; earshot %.3f %% of a core per call at %d, about %.0f supervised calls per core by its CPU",
			best.calls, workers, 100*best.within2ms, upto, 100*perCall, best.calls, 1/perCall)
	}()
	for _, n := range steps {
		if n > maxCalls {
			t.Logf("step %d calls skipped: ports and open files allow %d", n, maxCalls)
			break
		}
		for len(sessions) < n {
			sessions = append(sessions, loadCall(t, e, p, tone, len(sessions), mode))
		}
		waitMixing(t, sessions)
		<-time.After(2 * time.Second) // let jitter buffers settle past the hand-over
		ring := e.recv.ringReads()
		r := measureLoad(t, e, p, n, window)
		t.Log(r.row())
		if ring = e.recv.ringReads() - ring; ring > 0 {
			t.Logf("%d calls: %d reads through io_uring, %.0f %% of the packets sent", n, ring, 100*float64(ring)/float64(r.sent))
		}
		if kern == KernelOn {
			st := e.Stats()
			t.Logf("%d calls: %d streams in the kernel (%d handed over, %d taken back, %d packets without a route), %d tap copies lost",
				n, st.Kernel.Streams, st.Kernel.Offloads, st.Kernel.Returns, st.Kernel.NoRoute, st.Kernel.TapLost)
		}
		if r.mixed != n || r.legs != 3*n {
			t.Fatalf("%d calls: %d mixed sessions, %d mixer legs", n, r.mixed, r.legs)
		}
		if r.pushed == 0 || r.frames == 0 {
			t.Fatalf("%d calls: no audio through the mixer (%d pushed, %d frames)", n, r.pushed, r.frames)
		}
		if r.within2ms >= 0.99 && r.skipped == 0 {
			best = r
			if !broken {
				upto = n
			}
		} else {
			broken = true
		}
		if r.p99 > 20*time.Millisecond || r.skipped > 0 {
			t.Logf("stopping the ramp: the worker is overloaded at %d calls", n)
			break
		}
	}
}

// loadCall sets up one call supervised in mode whose three phones send
// through p.
func loadCall(t *testing.T, e *Engine, p *pacer, tone []byte, i int, mode mixer.Mode) *Session {
	t.Helper()
	cust, agent, sup := loadPhone(t), loadPhone(t), loadPhone(t)
	s, err := e.NewSession("load-"+strconv.Itoa(i), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Offer(0, loadSDP(cust)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, loadSDP(agent)); err != nil {
		t.Fatal(err)
	}
	l, err := s.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AnswerOffer(loadSDP(sup)); err != nil {
		t.Fatal(err)
	}
	if err := l.Attach(mode); err != nil {
		t.Fatal(err)
	}
	for _, ph := range []struct {
		conn *net.UDPConn
		leg  *leg
	}{{cust, s.pair.Load()[0]}, {agent, s.pair.Load()[1]}, {sup, l.l}} {
		p.add(&paceStream{conn: ph.conn, dst: addrPortOf(ph.leg), ssrc: rand.Uint32(),
			seq: uint16(rand.Uint32()), ts: rand.Uint32(), payload: tone})
	}
	return s
}

// loadPhone is a phone socket that is never read: its receive buffer is
// kept small so that thousands of them do not pin memory in the kernel
// (what overflows is dropped there, after earshot has paid for the send).
func loadPhone(t *testing.T) *net.UDPConn {
	c := listen(t)
	if err := c.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	return c
}

// loadSDP offers PCMU only, with no RTCP socket behind port+1: nobody sends
// RTCP in these measurements.
func loadSDP(c *net.UDPConn) []byte {
	return fmt.Appendf(nil, "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\n", port(c))
}

// waitMixing waits until the mixer has taken over the stream of every leg
// it makes frames for (not the bypassed ones, which the relay feeds).
func waitMixing(t *testing.T, sessions []*Session) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, s := range sessions {
		for !mixerFeedsAll(s) {
			if time.Now().After(deadline) {
				t.Fatalf("the mixer never took %s's streams over", s.callID)
			}
			<-tick.C
		}
	}
}

// mixerFeedsAll reports whether the mixer sends on every leg of s it makes
// frames for.
func mixerFeedsAll(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range *s.all.Load() {
		if l.inMix && !l.mixCfg.Bypass && !l.out.mixing() {
			return false
		}
	}
	return true
}

func envSteps(t *testing.T, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var steps []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || (len(steps) > 0 && n <= steps[len(steps)-1]) {
			t.Fatalf("%s=%q: want ascending positive call counts", name, v)
		}
		steps = append(steps, n)
	}
	return steps
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}
