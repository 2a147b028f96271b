package mixer

import "time"

// jitterEstimator is the interarrival jitter of RFC 3550 section 6.4.1 and
// appendix A.8: a running mean of |D|, where D is how much the transit time
// (arrival in RTP clock units minus RTP timestamp) changed between two
// packets. It is kept scaled by 16 in an integer, as the RFC's sample code
// does, so that it needs no floating point and is bit-exact in tests.
type jitterEstimator struct {
	epoch       time.Time // arrival time origin; only differences matter
	prevTransit int64
	jitter16    int64 // J * 16, in samples
	started     bool
}

// maxTransitStep is the largest change of transit time taken as network
// jitter. A bigger step is a timestamp jump (a sender that restarts its
// clock, a transcoder splice, a hold) or a clock hiccup; folding it into J
// would inflate the buffer for seconds, so it re-bases the estimator
// instead. One second is far beyond any jitter worth buffering for.
const maxTransitStep = SampleRate

// update records a packet with RTP timestamp ts that arrived at arrival.
func (e *jitterEstimator) update(ts uint32, arrival time.Time) {
	if !e.started {
		e.started = true
		e.epoch = arrival
		e.prevTransit = transit(ts, arrival, e.epoch)
		return
	}
	t := transit(ts, arrival, e.epoch)
	d := t - e.prevTransit
	e.prevTransit = t
	if d < 0 {
		d = -d
	}
	if d > maxTransitStep {
		return // timestamp jump: re-based by taking t as the new reference
	}
	e.jitter16 += d - (e.jitter16+8)>>4
}

// transit is the arrival time in RTP clock units minus the RTP timestamp,
// taken modulo 2^32 and sign-extended so that timestamp wrap-around does not
// look like a jump.
func transit(ts uint32, arrival, epoch time.Time) int64 {
	a := int64(arrival.Sub(epoch) / (time.Second / SampleRate))
	return int64(int32(uint32(a) - ts))
}

// samples returns the current estimate J in RTP clock units (samples).
func (e *jitterEstimator) samples() int64 { return e.jitter16 >> 4 }

// reset forgets everything; the next packet starts a new estimate.
func (e *jitterEstimator) reset() { *e = jitterEstimator{} }
