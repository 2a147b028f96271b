package rtpengine

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/earshot/earshot/mixer"
	"github.com/pion/sdp/v3"
)

// Session is the media of one call: two legs (0 = caller, 1 = callee), each
// with an RTP and an RTCP socket, relaying packets between them — or, while
// supervisors are attached, feeding a mixer session — plus any extra legs
// NewLeg adds for supervisors.
//
// Every method may be called from any goroutine; control operations (SDP,
// legs, modes, Close) are serialised by the session's mutex. Packets are
// handled by the engine's receive loops and mixer frames by the mixer
// worker that ticks the session; neither ever takes that mutex.
type Session struct {
	eng       *Engine
	callID    string
	log       *slog.Logger
	onTimeout func()
	onFailed  atomic.Pointer[func(leg int, reason string)] // OnTransportFailed

	pair     atomic.Pointer[[2]*leg]    // the caller and callee legs, swapped by Promote
	all      atomic.Pointer[[]*leg]     // every open leg, for the mixer sink's lookup
	rates    atomic.Pointer[clockRates] // payload type → clock rate, from both legs' SDP
	counters counters
	armedAt  atomic.Int64 // engine clock when offer and answer were both known; 0 before
	timedOut atomic.Bool
	closing  atomic.Bool // set first thing in Close, so the watcher skips the session
	mixed    atomic.Bool // mix != nil, for lock-free readers
	// mixBatch queues the mixer's frames for the worker that ticks mix,
	// to send after its tick (mixsend.go); nil sends each frame at once.
	mixBatch atomic.Pointer[sendBatch]

	mu     sync.Mutex // guards the fields below and the SDP and mix state of every leg
	closed bool
	extras []*leg // legs from NewLeg, neither promoted nor closed
	nextID int    // id of the next NewLeg
	mix    *mixer.Session
	// late is set while a late-offer exchange runs (see LocalOffer);
	// lateLeg is the leg earshot's own offer went to.
	late    bool
	lateLeg int
	// agentLeg is the pair leg mixed as the agent (SetAgentLeg): the
	// callee (1) unless the agent placed the call.
	agentLeg int
	// intercepted: a supervisor's leg took the callee's place (Promote);
	// the session stays mixed.
	intercepted bool

	// shutting counts legs taken out of the session whose sockets are
	// being closed outside mu (Leg.Close, Promote); Close waits for them.
	shutting  sync.WaitGroup
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
	pair := s.pair.Load()
	desc, remote, plan, err := rewriteOffer(offer, s.sdpParams(pair[to]))
	if err != nil {
		return nil, err
	}
	if _, err := s.setWebRTC(pair[from], remote.webrtc); err != nil {
		return nil, err
	}
	s.setRemote(pair[from], remote)
	pair[to].plan = &plan
	s.late = false // a new offer replaces an unfinished late-offer exchange
	return pair[to].origin.stamp(desc), nil
}

// Answer takes the SDP answer received on leg from, answering the last
// offer sent on that leg, and returns the answer to send on the other leg.
// It may be called again for the same offer (a second callee answering
// after the first failed): the new answer replaces the leg's peer. During a
// late-offer exchange (LocalOffer) it returns an offer, then nil.
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
	pair := s.pair.Load()
	plan := pair[from].plan
	if plan == nil {
		return nil, newError(ErrNoOffer, "")
	}
	desc, remote, err := rewriteAnswer(answer, *plan, s.sdpParams(pair[to]))
	if err != nil {
		return nil, err
	}
	if _, err := s.setWebRTC(pair[from], remote.webrtc); err != nil {
		return nil, err
	}
	pair[from].answered(plan, remote)
	s.setRemote(pair[from], remote)
	// The answer fixes the codec of the call: both legs use the caller's
	// payload type numbers (b2bua forwards the offer) — unless the
	// answerer chose the law earshot added to the offer, or earshot
	// answered the other leg itself: then each leg keeps its own law and
	// the mixer transcodes (transcode.go).
	m := remote.media
	mTo := m
	switch other := pair[to]; {
	case other.local:
		mTo = *other.media.Load()
	case m.codec.Valid() && other.remote.offered.codec.Valid() &&
		!slices.Contains(other.remote.formats, strconv.Itoa(m.audioPT)):
		mTo = other.remote.offered
		answerInLaw(desc, plan.index, mTo)
	}
	pair[from].media.Store(&m)
	pair[to].media.Store(&mTo)
	if err := s.reconcile(); err != nil {
		s.log.Warn("mix after answer", "err", err)
	}
	if s.late {
		return s.lateAnswer(from, desc, remote, plan.index)
	}
	s.armedAt.CompareAndSwap(0, max(s.eng.nanotime(), 1))
	return pair[to].origin.stamp(desc), nil
}

// setRemote installs what leg l's peer described: destinations (re-opening
// latching) and clock rates. Caller holds s.mu.
func (s *Session) setRemote(l *leg, remote remoteMedia) {
	s.reclaimAll() // the kernel's routes name the old peers
	if remote.webrtc != nil {
		l.remote = remote // ICE decides the addresses (setWebRTC)
	} else {
		s.resetPeer(l, remote)
	}
	s.updateRates(l)
}

// sdpParams describes earshot's side of leg l for the SDP sent on it.
// Caller holds s.mu.
func (s *Session) sdpParams(l *leg) sdpParams {
	return sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(l.port), wrtc: l.wside}
}

// resetPeer installs the addresses of what l's peer described (see
// latch.go). Caller holds s.mu.
func (s *Session) resetPeer(l *leg, remote remoteMedia) {
	l.remote = remote
	l.rtp.reset(remote.rtp, s.natIPs(l, remote.rtp))
	l.rtcp.reset(remote.rtcp, s.natIPs(l, remote.rtcp))
}

// natIPs are the IPs from which a source at another port than sdp may
// latch on l after probation: sdp's own and l's signalling source, none
// under LatchStrict. Caller holds s.mu.
func (s *Session) natIPs(l *leg, sdp netip.AddrPort) [2]netip.Addr {
	if s.eng.cfg.Latching == LatchStrict {
		return [2]netip.Addr{}
	}
	return [2]netip.Addr{sdp.Addr(), l.signal}
}

// SetSignalSource tells the session the IP address leg's signalling comes
// from: the phone or trunk whose SIP messages carry that leg's SDP. Under
// LatchNAT, RTP from that IP may latch at any port after probation (see
// latch.go), which is how a phone behind NAT is reached. Call it when the
// leg's peer is known (the INVITE's source for the caller, the answering
// response's for the callee); an invalid ip forgets it.
func (s *Session) SetSignalSource(leg int, ip netip.Addr) error {
	if err := checkLeg(leg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return newError(ErrClosed, "")
	}
	s.setSignal(s.pair.Load()[leg], ip)
	return nil
}

// setSignal records l's signalling source and updates what may latch.
// Caller holds s.mu.
func (s *Session) setSignal(l *leg, ip netip.Addr) {
	l.signal = ip.Unmap()
	l.rtp.setNAT(s.natIPs(l, l.remote.rtp))
	l.rtcp.setNAT(s.natIPs(l, l.remote.rtcp))
}

// updateRates rebuilds the clock-rate table from the pair's SDP. Both legs
// use the caller's payload type numbers (b2bua forwards the offer), so one
// table serves both directions; last, the leg that spoke last, wins a
// conflict. Caller holds s.mu.
func (s *Session) updateRates(last *leg) {
	pair := s.pair.Load()
	other := pair[0]
	if other == last {
		other = pair[1]
	}
	rates, lastRates := other.remote.rateTable(), last.remote.rateTable()
	for pt, r := range lastRates {
		if r != 0 {
			rates[pt] = r
		}
	}
	if cur := s.rates.Load(); cur != nil && *cur == rates {
		return // the answer usually repeats the offer's table: keep it
	}
	// A fresh table only here: storing &rates would move every call's
	// 512-byte working copy to the heap, equal or not.
	t := new(clockRates)
	*t = rates
	s.rates.Store(t)
}

// Close stops the session: it ends mixing, closes the sockets of every leg
// (extra legs included), waits until no reader can touch them any more and
// gives the ports back to the engine, which rests them before reuse. It is
// idempotent; concurrent callers all return once the session is closed.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.reclaimAll() // its counters, before the session's are retired
		s.mu.Lock()
		s.closed = true
		s.stopMix()
		legs := *s.all.Load()
		for _, l := range legs {
			l.closed = true
		}
		s.extras = nil
		empty := []*leg{}
		s.all.Store(&empty)
		s.mu.Unlock()
		for _, l := range legs {
			if t := s.eng.tapLegs; t != nil && t[l.port].CompareAndSwap(l, nil) {
				s.eng.tapped.Add(-1)
			}
			s.shut(l)
		}
		s.shutting.Wait()
		s.eng.retire(s)
	})
	return nil
}

// LegSnapshot describes one leg of a session.
type LegSnapshot struct {
	ID          int            // 0, 1, or a Leg's id (a promoted leg keeps its own)
	LocalRTP    netip.AddrPort // earshot's RTP socket (RTCP is one port up)
	RemoteRTP   netip.AddrPort // where RTP is sent; zero when unknown
	RTPLatched  bool           // RemoteRTP was learnt from a received packet
	RemoteRTCP  netip.AddrPort
	RTCPLatched bool
	Formats     []string    // payload types the peer's last SDP listed
	Codec       mixer.Codec // the negotiated G.711 variant; CodecInvalid if none
	Mode        mixer.Mode  // an attached supervisor's mode; ModeNone otherwise
	Out         OutState    // the stream earshot sends on this leg
	// Transport is "" for plain RTP; on a WebRTC leg, the state of its
	// ICE-lite and DTLS-SRTP transport: "new" (no valid ICE check yet),
	// "connecting", "connected", "failed" (the DTLS handshake failed:
	// no media flows) or "closed".
	Transport string
}

// Snapshot is a point-in-time description of a session.
type Snapshot struct {
	CallID string
	Legs   [2]LegSnapshot // the caller and the callee (after Promote, the promoted leg)
	Extra  []LegSnapshot  // legs from NewLeg, in creation order
	Mixed  bool           // the session is on the mix path
}

// Snapshot describes the session now.
func (s *Session) Snapshot() Snapshot {
	snap := Snapshot{CallID: s.callID}
	s.mu.Lock()
	defer s.mu.Unlock()
	pair := s.pair.Load()
	for i, l := range pair {
		snap.Legs[i] = s.legSnapshot(l)
	}
	for _, l := range s.extras {
		snap.Extra = append(snap.Extra, s.legSnapshot(l))
	}
	snap.Mixed = s.mix != nil
	return snap
}

// legSnapshot describes l. Caller holds s.mu.
func (s *Session) legSnapshot(l *leg) LegSnapshot {
	ls := LegSnapshot{
		ID:       l.id,
		LocalRTP: netip.AddrPortFrom(s.eng.cfg.BindAddr, l.port),
		Formats:  slices.Clone(l.remote.formats),
		Codec:    l.media.Load().codec,
		Out:      l.out.state(),
	}
	if l.attached {
		ls.Mode = l.mode
	}
	if t := l.wrtc.Load(); t != nil {
		ls.Transport = t.State().String()
	}
	if p := l.rtp.dest.Load(); p != nil {
		ls.RemoteRTP, ls.RTPLatched = p.addr, p.latched
	}
	if p := l.rtcp.dest.Load(); p != nil {
		ls.RemoteRTCP, ls.RTCPLatched = p.addr, p.latched
	}
	return ls
}

// Mixed reports whether the session is on the mix path now.
func (s *Session) Mixed() bool { return s.mixed.Load() }

// newOrigin starts earshot's o= state for a leg. Session ids are random so
// that two sessions (or two engines) never share one.
func newOrigin() origin {
	return origin{id: rand.Uint64() >> 1} // keep it positive for peers that parse int64
}
