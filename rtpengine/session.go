package rtpengine

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/sdp/v3"
)

// Session is the media of one call: two legs (0 = caller, 1 = callee), each
// with an RTP and an RTCP socket, relaying packets between them.
//
// Offer, Answer, Snapshot and Close may be called from any goroutine; SDP
// handling is serialised by the session's mutex. Packets are relayed by four
// reader goroutines (one per socket) that never take that mutex.
type Session struct {
	eng       *Engine
	callID    string
	log       *slog.Logger
	onTimeout func()

	legs     [2]leg
	rates    atomic.Pointer[clockRates] // payload type → clock rate, from both legs' SDP
	counters counters
	armedAt  atomic.Int64 // engine clock when offer and answer were both known; 0 before
	timedOut atomic.Bool
	closing  atomic.Bool // set first thing in Close, so the watcher skips the session

	mu      sync.Mutex // guards the fields below
	closed  bool
	origins [2]origin      // earshot's o= identity on each leg
	plans   [2]*offerPlan  // the last offer sent on each leg, awaiting its answer
	remotes [2]remoteMedia // what each leg's peer last described

	wg        sync.WaitGroup // the reader goroutines
	closeOnce sync.Once
}

// origin is earshot's o= line state on one leg: a session id fixed for the
// session and a version incremented whenever the SDP sent on that leg
// changes (RFC 3264 §8).
type origin struct {
	id      uint64
	version uint64
	last    []byte // the SDP last sent on the leg
}

// stamp fills in desc's o= and marshals it. An SDP identical to the last one
// sent keeps its version (a repeated answer, or a refresh re-INVITE); any
// other gets the next version.
func (o *origin) stamp(desc *sdp.SessionDescription) []byte {
	desc.Origin.SessionID = o.id
	desc.Origin.SessionVersion = o.version
	b, _ := desc.Marshal() // Marshal has no failure path for a description we built
	if o.last == nil || !bytes.Equal(b, o.last) {
		o.version++
		desc.Origin.SessionVersion = o.version
		b, _ = desc.Marshal()
		o.last = b
	}
	return slices.Clone(b)
}

func checkLeg(leg int) error {
	if leg != 0 && leg != 1 {
		return newError(ErrBadLeg, "")
	}
	return nil
}

// Offer takes the SDP offer received on leg from and returns the offer to
// send on the other leg: earshot's address and that leg's port, earshot's
// o= line, the offered codecs and direction, and every m-line but the first
// plain-RTP audio stream rejected. The peer's address becomes leg from's
// destination and latching re-opens on that leg.
func (s *Session) Offer(from int, offer []byte) ([]byte, error) {
	if err := checkLeg(from); err != nil {
		return nil, err
	}
	to := 1 - from
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrClosed, "")
	}
	desc, remote, plan, err := rewriteOffer(offer, sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(s.legs[to].port)})
	if err != nil {
		return nil, err
	}
	s.setRemote(from, remote)
	s.plans[to] = &plan
	return s.origins[to].stamp(desc), nil
}

// Answer takes the SDP answer received on leg from, answering the last
// offer sent on that leg, and returns the answer to send on the other leg.
// It may be called again for the same offer (a second callee answering
// after the first failed): the new answer replaces the leg's peer.
func (s *Session) Answer(from int, answer []byte) ([]byte, error) {
	if err := checkLeg(from); err != nil {
		return nil, err
	}
	to := 1 - from
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrClosed, "")
	}
	plan := s.plans[from]
	if plan == nil {
		return nil, newError(ErrNoOffer, "")
	}
	desc, remote, err := rewriteAnswer(answer, *plan, sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(s.legs[to].port)})
	if err != nil {
		return nil, err
	}
	s.setRemote(from, remote)
	s.armedAt.CompareAndSwap(0, max(s.eng.nanotime(), 1))
	return s.origins[to].stamp(desc), nil
}

// setRemote installs what leg i's peer described: destinations (re-opening
// latching) and clock rates. Caller holds s.mu.
func (s *Session) setRemote(i int, remote remoteMedia) {
	s.remotes[i] = remote
	s.legs[i].rtp.reset(remote.rtp)
	s.legs[i].rtcp.reset(remote.rtcp)
	// Both legs use the caller's payload type numbers (b2bua forwards the
	// offer), so one table serves both directions; the leg that spoke last
	// wins a conflict.
	rates := s.remotes[1-i].rates
	for pt, r := range remote.rates {
		if r != 0 {
			rates[pt] = r
		}
	}
	s.rates.Store(&rates)
}

// Close stops the session: it closes the four sockets, waits for their
// reader goroutines to return and gives the ports back to the engine, which
// rests them before reuse. It is idempotent; concurrent callers all return
// once the session is closed.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		for i := range s.legs {
			s.legs[i].rtp.conn.Close()
			s.legs[i].rtcp.conn.Close()
		}
		s.wg.Wait()
		s.eng.retire(s)
	})
	return nil
}

// LegSnapshot describes one leg of a session.
type LegSnapshot struct {
	LocalRTP    netip.AddrPort // earshot's RTP socket (RTCP is one port up)
	RemoteRTP   netip.AddrPort // where RTP is sent; zero when unknown
	RTPLatched  bool           // RemoteRTP was learnt from a received packet
	RemoteRTCP  netip.AddrPort
	RTCPLatched bool
	Formats     []string // payload types the peer's last SDP listed
	Out         OutState // the stream earshot sends on this leg
}

// Snapshot is a point-in-time description of a session.
type Snapshot struct {
	CallID string
	Legs   [2]LegSnapshot
}

// Snapshot describes the session now.
func (s *Session) Snapshot() Snapshot {
	snap := Snapshot{CallID: s.callID}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.legs {
		l := &s.legs[i]
		ls := LegSnapshot{
			LocalRTP: netip.AddrPortFrom(s.eng.cfg.BindAddr, l.port),
			Formats:  slices.Clone(s.remotes[i].formats),
			Out:      l.out.state(),
		}
		if p := l.rtp.dest.Load(); p != nil {
			ls.RemoteRTP, ls.RTPLatched = p.addr, p.latched
		}
		if p := l.rtcp.dest.Load(); p != nil {
			ls.RemoteRTCP, ls.RTCPLatched = p.addr, p.latched
		}
		snap.Legs[i] = ls
	}
	return snap
}

// newOrigin starts earshot's o= state for a leg. Session ids are random so
// that two sessions (or two engines) never share one.
func newOrigin() origin {
	return origin{id: rand.Uint64() >> 1} // keep it positive for peers that parse int64
}
