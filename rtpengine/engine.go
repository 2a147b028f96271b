package rtpengine

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/rtpengine/kernel"
	"github.com/earshot/earshot/rtpengine/webrtc"
)

// Engine owns the port range and every media session. Create it with New;
// all methods are safe for concurrent use.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	pool     *portPool
	mixer    *mixer.Pool
	g711     mixer.G711 // the mixer's tables, for prompts, music and cues
	recv     *recvLoops
	cues     cueTables           // read-only after New
	cert     *webrtc.Certificate // DTLS identity of WebRTC legs, made by New
	prime    int                 // frames the relay keeps running while the mixer primes
	nanotime func() int64        // engine clock, monotonic nanoseconds, never 0
	tick     time.Duration

	mu       sync.Mutex // guards sessions, closed and retired
	sessions map[*Session]struct{}
	closed   bool
	retired  Stats // counters of closed sessions

	timeouts atomic.Uint64
	// WebRTC legs' DTLS handshakes, by outcome (Stats.WebRTC).
	webrtcUp, webrtcFailed atomic.Uint64
	// WebRTC transports reported failed after they started, by reason.
	webrtcICEFailed, webrtcClosed, webrtcConsent atomic.Uint64
	lastWarn                                     atomic.Int64 // engine clock of the last "no free ports" warning

	// The in-kernel relay (kernelpath.go): nil when off or unavailable,
	// and then kernWhy says why if it was asked for.
	kern                                   *kernel.Relay
	kernWhy                                string
	kernStreams                            atomic.Int64
	kernOffloads, kernReturns, kernNoRoute atomic.Uint64
	// tapLegs names, by earshot's RTP port, the leg whose packets the
	// kernel copies to the taps ring (kernelpath.go); tapsDone is closed
	// when the ring's reader returns.
	tapLegs  *[1 << 16]atomic.Pointer[leg]
	tapsDone chan struct{}
	// tapped counts the non-nil entries of tapLegs; while it is zero the
	// reader sleeps until tapWake (capacity 1) says one was set, or
	// closeKernel closes tapsQuit.
	// tapDrains counts the reader's passes over the ring.
	tapped                atomic.Int64
	tapWake, tapsQuit     chan struct{}
	tapDrains             atomic.Uint64
	kernTapLost, tapStray atomic.Uint64
	kernListener          atomic.Uint64 // listeners' audio packets the kernel dropped

	stop      chan struct{} // closed by Close to stop the timeout watcher
	done      chan struct{} // closed by the watcher when it returns
	closeOnce sync.Once

	// batches send the mixer's frames, one per worker (mixsend.go); nil
	// when each frame is sent on its own, and then batchWhy says why if
	// io_uring was asked for.
	batches      []*sendBatch
	batchWhy     string
	relayBatched bool // the receive loops batch their sends too
	readsBatched bool // the receive loops read a wait's packets in one system call
}

// New validates cfg and starts an engine. It binds nothing until a session
// is created; it starts the goroutine that watches for media timeouts and
// the mixer pool's workers.
func New(cfg Config) (*Engine, error) {
	return newEngine(cfg, nil)
}

// newEngine is New with an injectable clock (nanoseconds, monotonic), so
// tests can drive port quarantine without waiting. nil means the real
// monotonic clock.
func newEngine(cfg Config, clock func() int64) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "rtpengine"),
		nanotime: clock,
		sessions: make(map[*Session]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		// Check about once a second; a shorter timeout (tests) is checked
		// often enough to fire within half of it.
		tick: max(min(time.Second, cfg.MediaTimeout/2, cfg.WebRTCICETimeout/2, cfg.WebRTCConsentTimeout/2), time.Millisecond),
	}
	if e.nanotime == nil {
		epoch := time.Now()
		e.nanotime = func() int64 { return int64(time.Since(epoch)) + 1 }
	}
	if e.cert, err = webrtc.NewCertificate(); err != nil {
		return nil, err
	}
	e.pool = newPortPool(cfg.BindAddr, cfg.PortMin, cfg.PortMax, int64(cfg.PortQuarantine))
	e.pool.keepMax = keepBudget(openFileLimit())
	e.cues = newCueTables()
	e.prime = primeFrames(cfg.Jitter)
	if e.recv, err = newRecvLoops(cfg.ReceiveLoops, cfg.DedicatedReceive, e.log); err != nil {
		return nil, err
	}
	if err := e.openKernel(); err != nil {
		e.recv.close()
		return nil, err
	}
	e.mixer = mixer.NewPool(e.batchedMixer(cfg.Mixer))
	e.g711 = e.mixer.G711()
	if err := e.openBatches(); err != nil {
		e.recv.close()
		e.closeKernel()
		return nil, err
	}
	e.batchRelay()
	e.batchReceives()
	if err := e.mixer.Start(); err != nil {
		e.recv.close()
		e.closeKernel()
		e.closeBatches()
		return nil, err
	}
	go e.watch()
	return e, nil
}

// NewSession allocates two RTP/RTCP socket pairs for a call and starts
// relaying between them. onTimeout, if not nil, is called once from the
// engine's watcher goroutine when the session's media times out; it must not
// block (post an event and return). When the port range is exhausted (or
// the kernel refuses to watch one more socket) the error wraps ErrNoPorts
// and its SIPStatus is 503.
func (e *Engine) NewSession(callID string, onTimeout func()) (*Session, error) {
	now := e.nanotime()
	if e.isClosed() {
		return nil, newError(ErrClosed, "")
	}
	var pairs [2]socketPair
	for i := range pairs {
		p, err := e.pool.allocate(now)
		if err != nil {
			for _, q := range pairs[:i] {
				q.rtp.Close()
				q.rtcp.Close()
				e.pool.unuse(q.port)
			}
			e.warnNoPorts(now, callID)
			return nil, err
		}
		pairs[i] = p
	}
	s := &Session{
		eng:       e,
		callID:    callID,
		log:       e.log.With("call_id", callID),
		onTimeout: onTimeout,
		nextID:    2,
		agentLeg:  1,
	}
	var pair [2]*leg
	for i, p := range pairs {
		pair[i] = newLeg(i, p, rand.Uint32(), uint16(rand.Uint32()), rand.Uint32())
		pair[i].sess = s
	}
	s.pair.Store(&pair)
	all := pair[:]
	s.all.Store(&all)
	// The shared static table until SDP says otherwise: tables are
	// never written once stored (updateRates stores a fresh one).
	s.rates.Store(&staticRates)

	// The legs are watched before the session is published, so that
	// Engine.Close, which closes what it finds published, never races a
	// leg that is still being put on a receive loop.
	for _, l := range pair {
		if err := s.start(l); err != nil {
			e.discard(pair[:])
			return nil, err
		}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.discard(pair[:])
		return nil, newError(ErrClosed, "")
	}
	e.sessions[s] = struct{}{}
	e.mu.Unlock()
	s.log.Debug("session created", "ports", []uint16{pairs[0].port, pairs[1].port})
	return s, nil
}

// discard closes legs of a session that was never published and gives
// their ports back without quarantine: no peer ever learnt them.
func (e *Engine) discard(legs []*leg) {
	for _, l := range legs {
		l.rtp.conn.Close()
		l.rtcp.conn.Close()
		l.wg.Wait()
		l.closeWebRTC()
		e.pool.unuse(l.port)
	}
}

// warnNoPorts logs port exhaustion at most once a second: under overload
// every new call fails the same way and the log must stay readable.
func (e *Engine) warnNoPorts(now int64, callID string) {
	last := e.lastWarn.Load()
	if last != 0 && now-last < int64(time.Second) {
		return
	}
	if e.lastWarn.CompareAndSwap(last, now) {
		e.log.Warn("no free RTP ports", "call_id", callID, "range", []int{e.cfg.PortMin, e.cfg.PortMax})
	}
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// retire is called by Session.Close once its goroutines are gone and its
// ports released: the counters go into the engine's totals.
func (e *Engine) retire(s *Session) {
	e.mu.Lock()
	delete(e.sessions, s)
	s.counters.addTo(&e.retired)
	e.mu.Unlock()
	s.log.Debug("session closed")
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	e.readKernel(e.nanotime())
	e.mu.Lock()
	st := e.retired
	for s := range e.sessions {
		s.counters.addTo(&st)
		if s.mixed.Load() {
			st.MixedSessions++
		}
	}
	st.SessionsActive = len(e.sessions)
	e.mu.Unlock()
	st.PortsInUse, st.PortsKept = e.pool.ports()
	st.Dropped.Quarantine = e.recv.quarantined()
	st.MediaTimeouts = e.timeouts.Load()
	st.WebRTC = WebRTCStats{
		Connected: e.webrtcUp.Load(), Failed: e.webrtcFailed.Load(),
		ICEFailed: e.webrtcICEFailed.Load(), PeerClosed: e.webrtcClosed.Load(), ConsentExpired: e.webrtcConsent.Load(),
	}
	st.Mixer = e.mixer.Stats()
	e.kernelStats(&st)
	st.IOUring = IOUringStats{Enabled: e.batches != nil, Relay: e.relayBatched, Receive: e.readsBatched, Unavailable: e.batchWhy}
	return st
}

// Close closes every session, stops the timeout watcher and the mixer
// workers and waits for all of the engine's goroutines. It is idempotent.
// NewSession fails afterwards.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		sessions := make([]*Session, 0, len(e.sessions))
		for s := range e.sessions {
			sessions = append(sessions, s)
		}
		e.mu.Unlock()
		close(e.stop)
		for _, s := range sessions {
			s.Close()
		}
		<-e.done
		e.mixer.Close()
		e.closeBatches()
		e.pool.close() // the parked sockets, before their loops stop
		e.recv.close()
		e.closeKernel()
		if e.tapsDone != nil {
			<-e.tapsDone
		}
	})
	return nil
}
