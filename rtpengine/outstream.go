package rtpengine

import "sync"

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
// Whoever feeds it — today the relay reader of the other leg, later a mixer
// worker — calls rewrite for every packet it sends. An input is mapped by
// two offsets (output = input + offset); when the input changes identity
// (new SSRC) or jumps (sequence or timestamp outside the thresholds), the
// offsets are recomputed so that the next output sequence number is the
// highest one sent plus one and the next output timestamp is the timestamp
// of that packet plus the media time elapsed since it was sent. A new
// sender is therefore just another input: handing the leg from relay to
// mixer (and back) is a re-base, with no gap or jump on the wire.
//
// The mutex makes the hand-over safe: the relay and a mixer may both hold a
// pointer to the stream, and whichever sends takes the lock for the few
// nanoseconds of the rewrite. It is uncontended in steady state.
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
	in := readRTP(pkt)
	o.mu.Lock()
	rebase := !o.started || in.ssrc != o.inSSRC
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
		// later re-bases advance by the media time elapsed, at least one
		// unit so timestamps never repeat across inputs.
		elapsed := uint32(0)
		if o.started {
			elapsed = 1
			if e := (now - o.outNanos) * int64(rates.rate(in.pt)) / 1e9; e > 1 {
				elapsed = uint32(e)
			}
		}
		o.seqOffset = o.outSeq + 1 - in.seq
		o.tsOffset = o.outTs + elapsed - in.ts
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
	ssrc := o.ssrc
	o.mu.Unlock()
	// A re-base sets the marker bit: receivers treat it as the start of a
	// talkspurt and resynchronise their jitter buffers instead of stretching.
	writeRTP(pkt, seq, ts, ssrc, rebase)
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
	return rtcpView{ssrc: o.ssrc, started: o.started, inSSRC: o.inSSRC, seqOffset: o.seqOffset, tsOffset: o.tsOffset}
}

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
