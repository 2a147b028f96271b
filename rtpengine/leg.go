package rtpengine

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/rtpengine/webrtc"
)

// readBufSize is the per-socket read buffer. Telephony RTP is far below an
// Ethernet MTU; a datagram that fills the whole buffer may have been
// truncated by the kernel and is dropped as malformed.
const readBufSize = 2048

// legMedia is what the mixer path needs to know about the RTP a leg's phone
// negotiated: its G.711 variant and payload type, and the payload type of
// its telephone-events. An immutable value behind an atomic pointer.
type legMedia struct {
	codec   mixer.Codec // CodecInvalid: nothing the mixer can take
	audioPT int         // -1: none
	dtmfPT  int         // -1: none
}

// noMedia is the media of a leg before any SDP.
var noMedia = legMedia{audioPT: -1, dtmfPT: -1}

// leg is earshot's side of one call leg: its RTP/RTCP sockets (read by a
// receive loop), the stream it sends to the phone on that leg, its SDP
// state and its place in the mix. Legs 0 and 1 are created with the
// session; NewLeg adds more. A leg keeps its id for life, also when Promote
// makes it the session's callee leg.
type leg struct {
	id       int
	port     uint16 // local RTP port; RTCP is port+1
	rtp      endpoint
	rtcp     endpoint
	out      *outStream
	lastRecv atomic.Int64   // engine clock of the last accepted RTP or RTCP packet
	wg       sync.WaitGroup // the leg's reader goroutines, where recvLoops runs any

	sess   *Session // the session the leg was created for; fixed
	media  atomic.Pointer[legMedia]
	mixLeg atomic.Pointer[mixer.Leg] // non-nil while the leg's audio feeds the mixer
	// bypassed mirrors mixCfg.Bypass for the packet path: the mixer makes
	// no frames for the leg, so the relay (or the kernel) feeds it.
	bypassed atomic.Bool
	// listening: an attached supervisor in listen mode, whose audio
	// nobody hears; drop is the in-kernel relay's discarding of it.
	listening atomic.Bool
	drop      kernelDrop
	cueReq    atomic.Uint64 // generation<<8 | Cue, see Session.Cue
	// cueDone is the last cueReq the sink finished playing (or gave
	// up on): while it differs from cueReq the leg's output is mixed.
	cueDone atomic.Uint64

	onDigit func(byte) // supervisor legs; nil for legs 0 and 1
	digits  digitState // owned by the RTP reader
	// catchUp: the relay would hand a stream fed by this leg to the
	// kernel but packets are queued on its socket; the receive loop
	// reads them at once (recvLoop.handle). Owned by the RTP reader.
	catchUp bool
	// digitFn reports a caller's or callee's telephone-events (OnDigit).
	digitFn atomic.Pointer[func(byte)]
	// play is what the leg hears instead of a peer (Play); nil: nothing.
	play atomic.Pointer[playback]
	// wrtc terminates the leg's WebRTC transport (webrtc.go); nil on a
	// plain RTP leg. Swapped by SDP handling under Session.mu.
	wrtc atomic.Pointer[webrtc.Transport]
	// wsince is the engine clock when the current transport was made,
	// wcheck that of its last valid ICE check (0: none yet), wfail set
	// once its failure was reported (webrtcfail.go).
	wsince, wcheck atomic.Int64
	wfail          atomic.Bool

	// Guarded by Session.mu.
	origin   origin          // earshot's o= identity on this leg
	ice      iceState        // earshot's ICE credentials, once the peer offered WebRTC
	wside    *localWebRTC    // what earshot's SDP on the leg says of WebRTC; nil: plain
	plan     *offerPlan      // the last offer sent on this leg, awaiting its answer
	remote   remoteMedia     // what the leg's peer last described
	signal   netip.Addr      // where the leg's signalling comes from (SetSignalSource)
	attached bool            // a supervisor leg in the mix (Attach)
	mode     mixer.Mode      // its mode
	promoted bool            // took the callee's place
	local    bool            // answered by earshot itself (AnswerLocal): its media is settled
	closed   bool            //
	inMix    bool            // the leg is in the mixer session
	mixCfg   mixer.LegConfig // as it was added

	// Owned by the goroutine ticking the session's mixer (the sink).
	frame     [rtpFixedHeader + mixer.FrameSamples]byte
	mixSeq    uint16
	mixTS     uint32
	primeLeft int // frames to let pass before taking the stream over from the relay
	cue       cuePlayer
	player    player
}

// newLeg wraps a bound socket pair. The caller starts its readers.
func newLeg(id int, p socketPair, ssrc uint32, seq uint16, ts uint32) *leg {
	l := &leg{id: id, port: p.port, out: newOutStream(ssrc, seq, ts), origin: newOrigin()}
	l.rtp.conn, l.rtcp.conn = p.rtp, p.rtcp
	m := noMedia
	l.media.Store(&m)
	return l
}

// start hands the leg's two sockets to the engine's receivers (see
// recvLoops): sockets a finished leg parked are adopted as they are, new
// ones are watched. On failure the sockets are not watched; the caller
// closes them.
func (s *Session) start(l *leg) error {
	if s.eng.recv.adopt(s, l) {
		return nil
	}
	return s.eng.recv.start(s, l)
}

// shut ends the leg's WebRTC transport if any, parks the leg's sockets
// (or, where they cannot be parked, closes them — which takes them off
// the receivers), waits for its reader goroutines where there are any,
// and releases its ports into quarantine.
func (s *Session) shut(l *leg) {
	s.undrop(l)
	l.closeWebRTC() // first, so that its close_notify still leaves the socket
	pair := socketPair{port: l.port}
	if rtp, rtcp, ok := s.eng.recv.park(l); ok {
		pair.rtp, pair.rtcp = rtp, rtcp
	} else {
		l.rtp.conn.Close()
		l.rtcp.conn.Close()
	}
	l.wg.Wait()
	s.eng.pool.release(pair, s.eng.nanotime())
}
