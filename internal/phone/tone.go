package phone

import "math"

// SampleRate is the G.711 sampling rate.
const SampleRate = 8000

// Goertzel returns the power of frequency hz in samples, in dBFS: a full
// scale sine measures about 0 dBFS, silence a very negative number.
func Goertzel(samples []int16, hz float64) float64 {
	if len(samples) == 0 {
		return math.Inf(-1)
	}
	w := 2 * math.Pi * hz / SampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	// A full-scale sine of N samples yields power (N/2)^2.
	n := float64(len(samples))
	amp := 2 * math.Sqrt(math.Max(power, 0)) / n
	if amp <= 0 {
		return math.Inf(-1)
	}
	return 20 * math.Log10(amp)
}
