package mixer

import "time"

// Audio framing. The mixer works in 20 ms frames of 8 kHz linear PCM, the
// packetisation every G.711 endpoint in a contact centre offers by default.
const (
	// SampleRate is the audio clock rate in Hz, also the RTP clock rate of
	// G.711.
	SampleRate = 8000
	// FrameDuration is the length of one mixer frame and the tick period.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples (and G.711 bytes) in one frame.
	FrameSamples = SampleRate * 20 / 1000
)

// Frame is one 20 ms frame of 16-bit linear PCM. It is an array so that its
// size is part of the type: a function handed a *Frame cannot get a short
// buffer.
type Frame [FrameSamples]int16

// accumulate adds src into the int32 accumulator acc.
func accumulate(acc *[FrameSamples]int32, src *Frame) {
	for i, s := range src {
		acc[i] += int32(s)
	}
}

// add2 writes the saturating sum of a and b into dst in one pass.
func add2(dst, a, b *Frame) {
	for i := range dst {
		dst[i] = int16(min(max(int32(a[i])+int32(b[i]), -32768), 32767))
	}
}

// saturate clamps the accumulator into dst. Summing in int32 and clamping
// once is both exact and cheaper than clamping after every addition.
func saturate(dst *Frame, acc *[FrameSamples]int32) {
	for i, v := range acc {
		dst[i] = int16(min(max(v, -32768), 32767))
	}
}

// concealFrames is how many consecutive frames concealment repeats the last
// good frame, each quieter than the one before; silence follows (after
// 100 ms). Repeating longer turns a loss into a buzz; fading fast keeps a
// short loss nearly inaudible.
const concealFrames = 5

// concealGain is the Q15 gain at the end of the n-th (0-based) concealed
// frame: a linear fade from 5/6 down to 1/6, and 1.0 before the first.
func concealGain(n int) int32 {
	if n < 0 {
		return 1 << 15
	}
	return int32(1<<15) * int32(concealFrames-n) / (concealFrames + 1)
}

// conceal writes into dst the n-th (0-based) concealment of last. The gain
// moves linearly across the frame from the previous step's gain to this
// step's, so consecutive concealed frames do not click at their boundaries.
// It reports whether the result is silence.
func conceal(dst, last *Frame, n int) (silent bool) {
	if n >= concealFrames {
		clear(dst[:])
		return true
	}
	from, to := concealGain(n-1), concealGain(n)
	for i, s := range last {
		g := from + (to-from)*int32(i+1)/FrameSamples
		dst[i] = int16(int32(s) * g >> 15)
	}
	return false
}
