package rtpengine

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/mixer/audio"
)

// TestLoadQueued measures how many callers waiting in a queue — each
// answered by earshot (AnswerLocal) and hearing music with a prompt
// (Play), each phone sending 20 ms PCMU as a real waiting caller does —
// one mixer worker carries: the same ramp and figures as
// TestLoadSupervised.
//
//	EARSHOT_LOAD=1 go test ./rtpengine/ -run TestLoadQueued -v -timeout 30m
func TestLoadQueued(t *testing.T) {
	needLoadEnv(t)
	steps := envSteps(t, "EARSHOT_LOAD_STEPS", []int{500, 1000, 2000, 3000, 4000, 5000})
	window := envDuration(t, "EARSHOT_LOAD_WINDOW", 10*time.Second)
	// Each waiting caller holds 2 RTP/RTCP port pairs (the callee's is
	// allocated with the session) and 1 phone socket.
	const portMin, portMax = 20000, 45999
	maxCalls := pairsIn(portMin, portMax) / 2
	limit := raiseFileLimit(t, uint64(5*steps[len(steps)-1]+512))
	maxCalls = min(maxCalls, (int(limit)-512)/5)

	e, err := newEngine(Config{BindAddr: loopback, PortMin: portMin, PortMax: portMax,
		Mixer: mixer.PoolConfig{Workers: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	p := newPacer(t, 2)
	defer p.Close()
	tone := pcmuTone()
	music := audio.Music()
	welcome, _ := audio.Prompt("queue-welcome")

	t.Logf("GOMAXPROCS=%d NumCPU=%d mixer workers=1 window=%v open-file limit=%d (max %d callers)",
		runtimeProcs(), numCPU(), window, limit, maxCalls)
	t.Log(loadHeader)
	t.Log(measureLoad(t, e, p, 0, 2*time.Second).row())
	n0 := 0
	for _, n := range steps {
		if n > maxCalls {
			t.Logf("step %d callers skipped: ports and open files allow %d", n, maxCalls)
			break
		}
		for ; n0 < n; n0++ {
			queuedCaller(t, e, p, tone, music, welcome, n0)
		}
		<-time.After(time.Second)
		r := measureLoad(t, e, p, n, window)
		t.Log(r.row())
		if r.mixed != n || r.legs != n {
			t.Fatalf("%d callers: %d mixed sessions, %d mixer legs", n, r.mixed, r.legs)
		}
		if r.frames == 0 {
			t.Fatalf("%d callers: no frames sent", n)
		}
		if r.p99 > 20*time.Millisecond || r.skipped > 0 {
			t.Logf("stopping the ramp: the worker is overloaded at %d callers", n)
			break
		}
	}
}

// queuedCaller sets up one caller waiting with music, its phone sending
// through p.
func queuedCaller(t *testing.T, e *Engine, p *pacer, tone []byte, music, prompt []int16, i int) {
	t.Helper()
	c := loadPhone(t)
	s, err := e.NewSession("queued-"+strconv.Itoa(i), nil)
	if err != nil {
		t.Fatal(err)
	}
	offer := loadSDP(c)
	if _, err := s.Offer(0, offer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AnswerLocal(0, offer); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(0, music, prompt); err != nil {
		t.Fatal(err)
	}
	p.add(&paceStream{conn: c, dst: addrPortOf(s.pair.Load()[0]), ssrc: rand.Uint32(),
		seq: uint16(rand.Uint32()), ts: rand.Uint32(), payload: tone})
}
