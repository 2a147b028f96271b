// Package tone makes and measures sine tones in 16-bit PCM, so that tests can
// tell which party's voice reached which ear: each party speaks its own
// frequency and a Goertzel filter measures how much of each arrived.
//
// Everything here is a plain value owned by its caller; nothing is shared.
package tone

import "math"

// Sine generates a continuous sine tone, frame after frame.
type Sine struct {
	freq  float64 // Hz
	amp   float64 // peak, in sample units
	rate  float64 // samples per second
	phase float64 // radians, carried across Fill calls
}

// NewSine returns a tone of freq Hz at level dBFS (0 dBFS is a full-scale
// sine) sampled at rate Hz.
func NewSine(freq, level float64, rate int) *Sine {
	return &Sine{freq: freq, amp: 32767 * math.Pow(10, level/20), rate: float64(rate)}
}

// Fill writes the next len(dst) samples of the tone into dst.
func (s *Sine) Fill(dst []int16) {
	step := 2 * math.Pi * s.freq / s.rate
	for i := range dst {
		dst[i] = int16(math.Round(s.amp * math.Sin(s.phase)))
		s.phase += step
	}
	s.phase = math.Mod(s.phase, 2*math.Pi)
}

// Level returns the level in dBFS of the frequency freq in samples taken at
// rate Hz, measured with the Goertzel algorithm: a full-scale sine at freq
// reads 0 dBFS; silence reads -inf, clipped to -200.
//
// Use a block of many periods of every frequency involved (a second is
// plenty); the filter's bandwidth is about rate/len(samples).
func Level(samples []int16, freq float64, rate int) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - c*s1*s2
	if power <= 0 {
		return -200
	}
	// A sine of peak A over N samples gives |X| = A·N/2.
	peak := 2 * math.Sqrt(power) / float64(len(samples))
	return math.Max(20*math.Log10(peak/32768), -200)
}
