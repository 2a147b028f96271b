package audio

import (
	"math"
	"sync"
)

// The built-in music on hold is a slow progression of four chords,
// C – G – Em – G7, two seconds each, eight seconds in all (400 frames of
// 20 ms). Each chord is a soft pad of two of its tones that swells in and
// fades out within its two seconds, with an arpeggio of four plucked notes,
// one every half second, over it; the notes of a chord end with it. Every
// tone is a pure sine, so the music's spectrum holds the frequencies of
// musicNotes and nothing else (apart from the narrow skirts the smooth
// envelopes give them).
//
// The notes are equal-tempered (A4 = 440 Hz) and in C major. Of the scale's
// notes in 300–1000 Hz, those at least 30 Hz clear of the tones
// call-progress and DTMF detectors listen for (440, 697, 770, 852, 941 and
// 1000 Hz; 1209, 1336, 1477, 1500, 1633 and 1900 Hz are above the range
// anyway) are E4, F4, G4, B4, C5, D5 and E5. A4 (440 Hz), F5 (698 Hz),
// G5 (784 Hz), A5 (880 Hz) and B5 (988 Hz) are too close to one of them.
// The seven are enough for C major, G major, G7 and E minor.
const (
	// musicSeconds is the length of the loop.
	musicSeconds = 8
	// musicChordSeconds is how long each chord lasts.
	musicChordSeconds = 2
	// musicRMSdBFS is the loop's RMS level in dB relative to full scale
	// (32767, so a full-scale sine is -3 dBFS).
	musicRMSdBFS = -16.0
)

// Equal-tempered note frequencies in Hz (A4 = 440 Hz).
const (
	noteE4 = 329.6275569128699
	noteF4 = 349.2282314330039
	noteG4 = 391.99543598174927
	noteB4 = 493.8833012561241
	noteC5 = 523.2511306011972
	noteD5 = 587.3295358348151
	noteE5 = 659.2551138257398
)

// musicNotes is every frequency the music uses, low to high.
var musicNotes = []float64{noteE4, noteF4, noteG4, noteB4, noteC5, noteD5, noteE5}

// musicChord is one chord of the progression: the tones of its pad and the
// four notes of its arpeggio, in the order they are played.
type musicChord struct {
	pad []float64
	arp [4]float64
}

// musicChords is the progression, played in order and looped.
var musicChords = []musicChord{
	{pad: []float64{noteC5, noteE5}, arp: [4]float64{noteC5, noteE5, noteG4, noteE5}}, // C
	{pad: []float64{noteG4, noteD5}, arp: [4]float64{noteB4, noteD5, noteG4, noteD5}}, // G
	{pad: []float64{noteE4, noteB4}, arp: [4]float64{noteE4, noteG4, noteB4, noteG4}}, // Em
	{pad: []float64{noteF4, noteD5}, arp: [4]float64{noteG4, noteB4, noteD5, noteF4}}, // G7
}

// Envelope shapes, in seconds. The pads are two tones each and the
// arpeggio notes overlap, so that the level stays even: with more tones
// sounding at once the peaks, where their phases line up, would pass half
// of full scale at -16 dBFS RMS.
const (
	padAttack    = 0.3  // raised-cosine swell of a pad
	padRelease   = 0.3  // raised-cosine fade of a pad, ending with its chord
	padGain      = 0.85 // pad amplitude relative to an arpeggio note's peak
	arpStep      = 0.5  // time between arpeggio notes
	arpLength    = 1.0  // how long an arpeggio note rings, at most
	arpAttack    = 0.06 // raised-cosine onset of an arpeggio note
	arpRelease   = 0.25 // raised-cosine fade of an arpeggio note
	arpDecayTime = 0.6  // exponential decay time constant of an arpeggio note
)

// MusicTones returns every frequency, in Hz, the built-in music is made of,
// low to high. Music is a sum of sines at exactly these frequencies, so a
// test can recognise it with a Goertzel filter. All of them lie in
// 300–1000 Hz, at least 30 Hz away from 440, 1000, 1500 and 1900 Hz and
// from every DTMF frequency. The result is a new slice the caller owns.
func MusicTones() []float64 {
	return append([]float64(nil), musicNotes...)
}

var (
	musicOnce sync.Once
	musicPCM  []int16
)

// Music returns the built-in music on hold: eight seconds (64000 samples,
// 400 frames of 20 ms) of a slow chord progression with an arpeggio, in soft
// sine tones, at -16 dBFS RMS (relative to 32767) with peaks below half of
// full scale. It is meant to be looped: it starts and ends at zero amplitude
// and every note fades in and out smoothly, so neither the notes nor the loop
// point click. It needs no file: it is synthesised, deterministically, at the
// first call and cached.
//
// Every call returns the same slice, shared by all callers: it must not be
// modified. Copy it first to change it.
func Music() []int16 {
	musicOnce.Do(func() { musicPCM = synthMusic() })
	return musicPCM
}

// synthMusic renders the loop. Each frequency is one oscillator, whose
// amplitude is the sum of the envelopes of every pad and note that uses it;
// the loop is the sum of the oscillators, scaled to musicRMSdBFS.
func synthMusic() []int16 {
	n := musicSeconds * SampleRate
	amp := make(map[float64][]float64, len(musicNotes))
	for _, f := range musicNotes {
		amp[f] = make([]float64, n)
	}
	for c, chord := range musicChords {
		start := float64(c * musicChordSeconds)
		for _, f := range chord.pad {
			addEnvelope(amp[f], start, musicChordSeconds, padGain, padAttack, padRelease, 0)
		}
		for i, f := range chord.arp {
			at := start + float64(i)*arpStep
			length := math.Min(arpLength, start+musicChordSeconds-at)
			addEnvelope(amp[f], at, length, 1, arpAttack, math.Min(arpRelease, length/2), arpDecayTime)
		}
	}
	mix := make([]float64, n)
	for _, f := range musicNotes {
		w := 2 * math.Pi * f / SampleRate
		for i, a := range amp[f] {
			if a != 0 {
				mix[i] += a * math.Sin(w*float64(i))
			}
		}
	}
	var sum float64
	for _, v := range mix {
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(n))
	scale := 32767 * math.Pow(10, musicRMSdBFS/20) / rms
	pcm := make([]int16, n)
	for i, v := range mix {
		pcm[i] = int16(math.Round(v * scale))
	}
	return pcm
}

// addEnvelope adds to env (one value per sample) a note's amplitude: from
// start for length seconds, peaking at gain, with a raised-cosine attack and
// release of the given lengths and, if decay > 0, an exponential decay with
// that time constant after the attack. The envelope is zero at both ends.
func addEnvelope(env []float64, start, length, gain, attack, release, decay float64) {
	first := int(math.Round(start * SampleRate))
	count := int(math.Round(length * SampleRate))
	for k := 0; k <= count && first+k < len(env); k++ {
		t := float64(k) / SampleRate
		g := gain
		if t < attack {
			g *= 0.5 - 0.5*math.Cos(math.Pi*t/attack)
		} else if decay > 0 {
			g *= math.Exp(-(t - attack) / decay)
		}
		if left := length - t; left < release {
			g *= 0.5 - 0.5*math.Cos(math.Pi*math.Max(left, 0)/release)
		}
		env[first+k] += g
	}
}
