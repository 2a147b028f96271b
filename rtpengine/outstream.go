package rtpengine

import (
	"cmp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Thresholds that tell a restarted or replaced incoming stream from ordinary
// loss and reordering. They follow RFC 3550 Appendix A.1 (MAX_DROPOUT 3000,
// MAX_MISORDER 100); a timestamp that strays further than tsJumpSeconds from
// what the wall clock predicts is a restart even when the sequence looks
// continuous (some phones reset only the timestamp after hold).
const (
	maxDropout    = 3000
	maxMisorder   = 100
	tsJumpSeconds = 4
)

// outStream is the RTP stream earshot sends on one leg. Its SSRC is chosen
// when the session is created and never changes; its sequence numbers and
// timestamps continue across whatever feeds it, so the phone on that leg
// sees a single continuous stream for the whole call.
//
// Whoever feeds it — the relay reader of the other leg, or the mixer's
// sink — maps every packet it sends through it. An input is mapped by
// two offsets (output = input + offset); when the input changes identity
// (new SSRC) or jumps (sequence or timestamp outside the thresholds), the
// offsets are recomputed so that the next output sequence number is the
// highest one sent plus one and the next output timestamp is the timestamp
// of that packet plus the media time elapsed since it was sent. A new
// sender is therefore just another input: handing the leg from relay to
// mixer (and back) is a re-base, with no gap or jump on the wire.
//
// The mutex makes the hand-over safe: the relay and the mixer both hold a
// pointer to the stream, and whichever sends holds the lock for the
// rewrite and the send, so packets leave in the order they are numbered. Ownership (mixed) is decided under the same
// lock, so a relayed packet and a mixed frame can never interleave: relay
// uses relay, the sink uses mix, and each refuses while the other owns the
// stream. It is uncontended in steady state.
type outStream struct {
	mu sync.Mutex // guards every field below

	ssrc    uint32 // output SSRC, fixed
	started bool   // an input has been mapped

	inSSRC    uint32 // current input's SSRC
	inSeq     uint16 // highest input sequence number seen
	inTs      uint32 // input timestamp of that packet
	inNanos   int64  // arrival time (engine clock) of that packet
	seqOffset uint16
	tsOffset  uint32

	outSeq   uint16 // highest output sequence number sent
	outTs    uint32 // output timestamp of that packet
	outNanos int64  // when it was sent

	// mixed says the mixer sends on the leg: the relay's writes are
	// refused. Only the mixer's sink sets it (claim), only the control
	// path clears it (release), after the leg has left the mixer.
	mixed bool
	// rebase forces the next packet to re-base even if its input looks
	// continuous: set whenever the sender changes hands.
	rebase bool

	// mixedNow mirrors mixed, written under mu, so that relay can refuse
	// without the lock. While a call is mixed every packet its reader
	// receives would otherwise take the lock the mixer's sink holds
	// across each send, and at a few hundred mixed calls that contention
	// parked and woke the reader and the sink many times per tick.
	mixedNow atomic.Bool

	// kern is the in-kernel relay's share of the stream (kernelpath.go).
	kern kernelFeed

	// queuedIn is the batch in which a packet of the stream waits to be
	// sent (a mixer worker's until its tick ends, a receive loop's until
	// its batch of events is handled; mixsend.go), nil when none does.
	// Set under mu by whoever queued it, cleared without mu by the batch
	// once sent. A writer from elsewhere waits for it (waitQueued), so
	// that the packet, which has the sequence number before the writer's,
	// leaves first.
	queuedIn atomic.Pointer[sendBatch]
	// queuedWait bounds waitQueued; zero means queuedWaitMax. A test
	// that checks the wait sets it long, so that its own scheduling on
	// a loaded machine cannot be taken for the deadline.
	queuedWait time.Duration

	// Telephone-events inserted between mixer frames (see event).
	evSSRC uint32
	evIn   uint32 // input timestamp of the event being forwarded
	evOut  uint32 // the output timestamp it was given
	evOn   bool
}

// newOutStream starts a stream with the given SSRC and random-looking
// initial sequence number and timestamp (RFC 3550 §5.1 asks for random
// initial values; the caller supplies them so tests are deterministic).
func newOutStream(ssrc uint32, seq uint16, ts uint32) *outStream {
	// outSeq is the last sequence number "sent", so the first packet gets seq.
	return &outStream{ssrc: ssrc, outSeq: seq - 1, outTs: ts}
}

// rewrite maps the header of pkt (which validRTP accepted) onto the output
// stream in place. now is the engine clock in nanoseconds; rates gives the
// clock rate used to turn elapsed wall time into timestamp units.
func (o *outStream) rewrite(pkt []byte, now int64, rates *clockRates) {
	o.mu.Lock()
	o.rewriteLocked(pkt, now, rates)
	o.mu.Unlock()
}

// relay is rewrite for the relay reader: it refuses (returns false, pkt
// untouched) while the mixer sends on the leg. When it accepts, the stream
// stays locked until the caller has sent pkt and called sent: packets
// leave in the order they were numbered, also when the mixer claims the
// stream right after this packet (without that, the mixer's first frame
// could overtake the relay's last packet on the wire).
//
// mine is the caller's batch (nil: it sends at once): a packet of the
// stream queued in another batch is sent before this one is rewritten.
func (o *outStream) relay(pkt []byte, now int64, rates *clockRates, mine *sendBatch) (ok, rebased bool) {
	// A refusal seen here is one the locked check below would make too:
	// only release clears mixed, and a packet racing with release may
	// land on either side of it.
	if o.mixedNow.Load() {
		return false, false
	}
	o.mu.Lock()
	o.waitQueued(mine)
	if o.mixed {
		o.mu.Unlock()
		return false, false
	}
	return true, o.rewriteLocked(pkt, now, rates)
}

// mix is rewrite for the mixer's sink. While the relay still owns the
// stream the frame is refused unless claim is true, in which case the
// mixer takes the stream over from this frame on (a re-base). Like relay,
// an accepted frame keeps the stream locked until sent.
func (o *outStream) mix(pkt []byte, now int64, rates *clockRates, claim bool, mine *sendBatch) bool {
	o.mu.Lock()
	o.waitQueued(mine)
	if !o.mixed {
		if !claim {
			o.mu.Unlock()
			return false
		}
		o.mixed, o.rebase = true, true
		o.mixedNow.Store(true)
	}
	o.rewriteLocked(pkt, now, rates)
	return true
}

// sent unlocks the stream after the packet relay, mix or event accepted
// has been written (or given up).
func (o *outStream) sent() { o.mu.Unlock() }

// mixing reports whether the mixer owns the stream.
func (o *outStream) mixing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mixed
}

// release gives the stream back to the relay. The caller has made sure the
// mixer no longer writes frames for the leg (mixer.Session.RemoveLeg or
// Close returned), so the mixer cannot claim it again.
func (o *outStream) release() {
	o.mu.Lock()
	if o.mixed {
		o.mixed, o.rebase = false, true
		o.mixedNow.Store(false)
	}
	o.mu.Unlock()
}

// rewriteLocked is rewrite with o.mu held. It reports whether the packet
// re-based the stream.
func (o *outStream) rewriteLocked(pkt []byte, now int64, rates *clockRates) bool {
	in := readRTP(pkt)
	rebase := !o.started || in.ssrc != o.inSSRC || o.rebase
	o.rebase = false
	newer := false
	if !rebase {
		d := int16(in.seq - o.inSeq)
		switch {
		case d > maxDropout || d < -maxMisorder:
			rebase = true
		case d > 0:
			newer = true
			rate := int64(rates.rate(in.pt))
			expected := (now - o.inNanos) * rate / 1e9
			drift := int64(int32(in.ts-o.inTs)) - expected
			if drift > tsJumpSeconds*rate || drift < -tsJumpSeconds*rate {
				rebase = true
			}
		}
	}
	if rebase {
		// The very first packet starts exactly at the initial timestamp;
		// later re-bases advance one frame (see rebaseStep).
		step := uint32(0)
		if o.started {
			step = rebaseStep(rates.rate(in.pt))
		}
		o.seqOffset = o.outSeq + 1 - in.seq
		o.tsOffset = o.outTs + step - in.ts
		o.inSSRC = in.ssrc
		o.started = true
		newer = true
	}
	if newer {
		o.inSeq, o.inTs, o.inNanos = in.seq, in.ts, now
	}
	seq, ts := in.seq+o.seqOffset, in.ts+o.tsOffset
	if int16(seq-o.outSeq) > 0 {
		o.outSeq, o.outTs, o.outNanos = seq, ts, now
	}
	// A re-base sets the marker bit: receivers treat it as the start of a
	// talkspurt and resynchronise their jitter buffers instead of stretching.
	writeRTP(pkt, seq, ts, o.ssrc, rebase)
	return rebase
}

// rebaseStep is how far a re-based stream's timestamp advances past the
// last packet sent: one frame (20 ms of media at rate Hz), whatever time
// went by. A hand-over (relay to mixer, music to agent, a new callee)
// happens between two packets of a 20 ms stream, so the phone sees
// timestamp +160 at 8 kHz, as if one sender had sent both — the wall clock
// would give +134 or +144 from where between two ticks the hand-over fell,
// or +480 when a loaded machine delayed the first packet of the new
// source. The packet carries the marker bit, so a receiver that did see a
// pause (a hand-over after real silence) resynchronises its jitter buffer
// instead of stretching; a timestamp gap would only have told it to play
// silence for a pause it already had.
func rebaseStep(rate uint32) uint32 {
	if frame := rate / 50; frame > 0 {
		return frame
	}
	return 1 // at least one unit: timestamps never repeat across inputs
}

// rtcpView is what RTCP translation needs from a stream, read under its lock.
type rtcpView struct {
	ssrc      uint32
	started   bool
	inSSRC    uint32
	seqOffset uint16
	tsOffset  uint32
}

func (o *outStream) view() rtcpView {
	o.mu.Lock()
	defer o.mu.Unlock()
	// While mixed, the input is the mixer, whose timeline and sequence
	// space mean nothing to the phones: translate SSRCs only (see doc.go).
	started := o.started && !o.mixed
	return rtcpView{ssrc: o.ssrc, started: started, inSSRC: o.inSSRC, seqOffset: o.seqOffset, tsOffset: o.tsOffset}
}

// event maps a telephone-event packet (RFC 4733) from the other party onto
// a stream the mixer feeds. It takes the next sequence number and shifts
// the mixer's mapping by one, so the mixer's next frame follows it without
// a gap or a duplicate; every packet of one event (same input SSRC and
// timestamp) gets the same output timestamp, taken from the audio timeline
// when the event started. The marker bit passes through as the sender set
// it. It refuses (false) when the relay owns the stream: then the packet
// is simply relayed. An accepted packet keeps the stream locked until sent.
func (o *outStream) event(pkt []byte, now int64, rates *clockRates, mine *sendBatch) bool {
	in := readRTP(pkt)
	o.mu.Lock()
	o.waitQueued(mine)
	if !o.mixed || !o.started {
		o.mu.Unlock()
		return false
	}
	if !o.evOn || in.ssrc != o.evSSRC || in.ts != o.evIn {
		elapsed := max((now-o.outNanos)*int64(rates.rate(in.pt))/1e9, 0)
		o.evOn, o.evSSRC, o.evIn, o.evOut = true, in.ssrc, in.ts, o.outTs+uint32(elapsed)
	}
	o.outSeq++
	o.seqOffset++
	writeRTP(pkt, o.outSeq, o.evOut, o.ssrc, false)
	return true
}

// waitQueued returns, with mu held as on entry, once no packet of the
// stream waits in a batch other than mine: that packet has the sequence
// number before the one the caller is about to take, and must leave
// first. A mixer worker sends its batch when its tick ends (a few
// milliseconds at most), a receive loop when it has handled the events of
// one wait (microseconds); neither waits for mu to do so. The deadline
// only guards against a stalled sender.
func (o *outStream) waitQueued(mine *sendBatch) {
	var deadline time.Time
	for q := o.queuedIn.Load(); q != nil && q != mine; q = o.queuedIn.Load() {
		if deadline.IsZero() {
			deadline = time.Now().Add(cmp.Or(o.queuedWait, queuedWaitMax))
		} else if time.Now().After(deadline) {
			return
		}
		o.mu.Unlock()
		runtime.Gosched()
		o.mu.Lock()
	}
}

// queuedWaitMax bounds waitQueued: two mixer ticks.
const queuedWaitMax = 40 * time.Millisecond

// OutState is a snapshot of an output stream, for diagnostics and for a
// component that takes over sending on the leg.
type OutState struct {
	SSRC    uint32 // output SSRC, constant for the session
	Seq     uint16 // highest sequence number sent so far
	TS      uint32 // timestamp of that packet
	Started bool   // at least one packet was sent
}

func (o *outStream) state() OutState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutState{SSRC: o.ssrc, Seq: o.outSeq, TS: o.outTs, Started: o.started}
}
