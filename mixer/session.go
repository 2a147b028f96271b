package mixer

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// MaxLegs is the most legs one session mixes: a customer, an agent and a
// generous number of supervisors. It keeps each leg's "hears" set a bitmask.
const MaxLegs = 32

// Sink receives the mixer's output. WriteFrame is called once per leg per
// tick (bypassed legs excepted, see Session.SetBypass), from the worker goroutine ticking the session, with the leg's 20 ms
// of audio encoded in its codec (FrameSamples bytes). payload is only valid
// during the call: the RTP engine stamps it with the leg's continuing SSRC,
// sequence number and timestamp and sends it, or copies it. WriteFrame must
// not block (a UDP send is fine) and must not call RemoveLeg or Close, which
// wait for the tick in progress to end.
type Sink interface {
	WriteFrame(leg LegID, payload []byte)
}

// SessionConfig configures a Session.
type SessionConfig struct {
	// Sink receives every leg's output. Required.
	Sink Sink
	// Jitter is the default jitter-buffer tuning for the session's legs.
	Jitter JitterConfig
}

// Session mixes the legs of one call. Control methods (AddLeg, RemoveLeg,
// SetMode, Close) may be called from any goroutine; they serialise on a
// per-session mutex and publish a new immutable leg table with an atomic
// store, so the goroutine ticking the session never waits for them: a change
// takes effect at the next tick. RemoveLeg and Close also wait for a tick
// in progress to finish, so once they return no frame for the removed leg
// (or the closed session) is being written. Packets enter through Leg.Push.
type Session struct {
	sink Sink
	jcfg JitterConfig

	// mu serialises control operations: it guards the writing of table,
	// closed and shard. The ticking goroutine never takes it.
	mu     sync.Mutex
	table  atomic.Pointer[legTable]
	closed bool
	shard  *shard // nil for a standalone session
	// enter and exit are the session's changes to its shard's list, and
	// slot its index there (the worker's).
	enter, exit shardChange
	slot        int

	// tickMu is held for the length of each tick (by the worker, or the
	// caller of Tick). Only RemoveLeg and Close contend for it, to wait
	// out a tick in progress; it guards no data of its own.
	tickMu sync.Mutex

	// counters of a standalone session; a pooled one uses its shard's.
	own *counters
	// enc is the G.711 encoder, shared with the pool's other sessions.
	enc *encoder
}

// legTable is one immutable state of a session's legs. hears[r] has bit s
// set when leg r hears leg s.
type legTable struct {
	legs    []*Leg
	parties []Party
	hears   []uint32
}

// NewSession returns a standalone session, which its owner ticks by calling
// Tick every 20 ms. Sessions that a Pool clocks come from Pool.NewSession.
func NewSession(cfg SessionConfig) (*Session, error) {
	return newSession(cfg, newEncoder(), newCounters())
}

// newSession builds a session around an encoder and counters.
func newSession(cfg SessionConfig, e *encoder, c *counters) (*Session, error) {
	if cfg.Sink == nil {
		return nil, fmt.Errorf("mixer: session needs a Sink")
	}
	return &Session{sink: cfg.Sink, jcfg: cfg.Jitter, own: c, enc: e}, nil
}

// AddLeg adds a leg. It is heard, and hears, from the next tick on.
func (s *Session) AddLeg(cfg LegConfig) (*Leg, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Jitter.MinDepth == 0 {
		cfg.Jitter.MinDepth = s.jcfg.MinDepth
	}
	if cfg.Jitter.MaxDepth == 0 {
		cfg.Jitter.MaxDepth = s.jcfg.MaxDepth
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	old := s.table.Load()
	if old != nil {
		if len(old.legs) >= MaxLegs {
			return nil, ErrTooManyLegs
		}
		if old.find(cfg.ID) >= 0 {
			return nil, fmt.Errorf("%w: %d", ErrDuplicateLeg, cfg.ID)
		}
	}
	l := newLeg(cfg, &s.counters().inboxDropped)
	s.counters().legs.Add(1)
	legs, parties := old.clone()
	s.table.Store(buildTable(append(legs, l), append(parties, Party{Role: cfg.Role, Mode: cfg.Mode})))
	return l, nil
}

// RemoveLeg removes a leg: it is neither mixed nor fed any more, its Push
// drops everything, and when RemoveLeg returns no frame for it is being
// written or will be.
func (s *Session) RemoveLeg(id LegID) error {
	if err := s.removeLeg(id); err != nil {
		return err
	}
	s.waitTick() // a tick may still use the old table
	return nil
}

func (s *Session) removeLeg(id LegID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.table.Load()
	i := old.find(id)
	if i < 0 {
		return fmt.Errorf("%w: %d", ErrUnknownLeg, id)
	}
	l := old.legs[i]
	l.removed.Store(true)
	s.counters().legs.Add(-1)
	legs, parties := old.clone()
	s.table.Store(buildTable(append(legs[:i], legs[i+1:]...), append(parties[:i], parties[i+1:]...)))
	return nil
}

// SetMode changes a supervisor leg's mode (listen, whisper, barge,
// intercept). The leg keeps its jitter buffer and audio: the switch is
// seamless and takes effect at the next tick.
func (s *Session) SetMode(id LegID, m Mode) error {
	return s.setParty(id, func(p Party) Party { return Party{Role: p.Role, Mode: m} })
}

// SetParty changes a leg's role and mode: an intercepting supervisor
// becomes the agent. Like SetMode it keeps the leg's jitter buffer and
// audio, so the people hearing the leg hear no gap.
func (s *Session) SetParty(id LegID, p Party) error {
	return s.setParty(id, func(Party) Party { return p })
}

func (s *Session) setParty(id LegID, next func(Party) Party) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.table.Load()
	i := old.find(id)
	if i < 0 {
		return fmt.Errorf("%w: %d", ErrUnknownLeg, id)
	}
	p := next(old.parties[i])
	if !p.Valid() {
		return fmt.Errorf("%w: leg %d %v in mode %v", ErrInvalidParty, id, p.Role, p.Mode)
	}
	legs, parties := old.clone()
	parties[i] = p
	s.table.Store(buildTable(legs, parties))
	return nil
}

// SetBypass says whether the mixer makes frames for a leg. A bypassed leg
// still speaks — it is buffered, decoded and heard as its party says — but
// nothing is mixed, encoded or written to the Sink for it: its owner feeds
// the leg's phone another way (the RTP engine relays the other party's
// packets to a customer or agent who hears only that party, so a listening
// supervisor adds neither delay nor work to what the two of them hear).
// When SetBypass(id, true) returns, no frame for the leg is being written;
// SetBypass(id, false) takes effect at the next tick.
func (s *Session) SetBypass(id LegID, on bool) error {
	s.mu.Lock()
	l := s.Leg(id)
	if l == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrUnknownLeg, id)
	}
	l.bypass.Store(on)
	s.mu.Unlock()
	if on {
		s.waitTick()
	}
	return nil
}

// Leg returns the leg with id, or nil. It does not lock.
func (s *Session) Leg(id LegID) *Leg {
	t := s.table.Load()
	if i := t.find(id); i >= 0 {
		return t.legs[i]
	}
	return nil
}

// Push is Leg(id).Push(...): it looks the leg up without locking. It
// returns false if there is no such leg or the packet was dropped.
func (s *Session) Push(id LegID, payload []byte, seq uint16, ts, ssrc uint32, marker bool, arrival time.Time) bool {
	if l := s.Leg(id); l != nil {
		return l.Push(payload, seq, ts, ssrc, marker, arrival)
	}
	return false
}

// Parties returns the role and mode of every leg, by id. It allocates; it
// is for control and diagnostics, not the media path.
func (s *Session) Parties() map[LegID]Party {
	t := s.table.Load()
	m := make(map[LegID]Party)
	if t != nil {
		for i, l := range t.legs {
			m[l.id] = t.parties[i]
		}
	}
	return m
}

// Close removes the session from its pool (if any) and all its legs, and
// waits for a tick in progress to end: when it returns, the Sink is no
// longer called for this session. It is idempotent. A closed session
// produces nothing and accepts no legs.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if t := s.table.Load(); t != nil {
		for _, l := range t.legs {
			l.removed.Store(true)
		}
		s.counters().legs.Add(-int64(len(t.legs)))
	}
	s.table.Store(nil)
	sh := s.shard
	s.mu.Unlock()
	if sh != nil {
		sh.counters.sessions.Add(-1)
		sh.push(&s.exit)
	}
	s.waitTick()
	return nil
}

// waitTick returns once no tick of the session is in progress. A pooled
// session waits for its shard's tick and the AfterTick that follows it,
// where a batching Sink sends what the tick wrote (tickGate). A
// standalone one's ticks hold tickMu, so taking it is the barrier.
func (s *Session) waitTick() {
	if sh := s.shard; sh != nil {
		sh.gate.wait()
		return
	}
	s.tickMu.Lock()
	//lint:ignore SA2001 the empty critical section is the barrier itself
	s.tickMu.Unlock()
}

// Worker returns the index of the pool worker that ticks the session, the
// argument its AfterTick gets, or -1 for a standalone session.
func (s *Session) Worker() int {
	if s.shard == nil {
		return -1
	}
	return s.shard.idx
}

// counters returns where this session's totals go.
func (s *Session) counters() *counters {
	if s.shard != nil {
		return &s.shard.counters
	}
	return s.own
}

// find returns the index of the leg with id, or -1. A nil table is empty.
func (t *legTable) find(id LegID) int {
	if t == nil {
		return -1
	}
	for i, l := range t.legs {
		if l.id == id {
			return i
		}
	}
	return -1
}

// clone returns copies of the table's slices for building the next table.
func (t *legTable) clone() ([]*Leg, []Party) {
	if t == nil {
		return nil, nil
	}
	return append([]*Leg(nil), t.legs...), append([]Party(nil), t.parties...)
}

// buildTable computes the hear sets for legs with parties.
func buildTable(legs []*Leg, parties []Party) *legTable {
	t := &legTable{legs: legs, parties: parties, hears: make([]uint32, len(legs))}
	icpt := Intercepted(parties)
	for r := range legs {
		for src := range legs {
			if r != src && Hears(parties[r], parties[src], icpt) {
				t.hears[r] |= 1 << src
			}
		}
	}
	return t
}
