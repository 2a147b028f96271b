package audio

import (
	"math"
	"slices"
	"sync"
	"testing"
)

// goertzel returns the power of x at frequency f (Hz), unnormalised: only
// ratios between calls on the same x mean anything.
func goertzel(x []int16, f float64) float64 {
	c := 2 * math.Cos(2*math.Pi*f/SampleRate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

func dB(ratio float64) float64 { return 10 * math.Log10(ratio) }

// rmsDBFS is the RMS level of x in dB relative to 32767.
func rmsDBFS(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return dB(sum / float64(len(x)) / (32767 * 32767))
}

func peakOf(x []int16) int {
	p := 0
	for _, v := range x {
		p = max(p, abs(int(v)))
	}
	return p
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// avoidHz are the frequencies the music must stay clear of: call-progress
// tones and DTMF.
var avoidHz = []float64{440, 1000, 1500, 1900, 697, 770, 852, 941, 1209, 1336, 1477, 1633}

func TestMusicTones(t *testing.T) {
	tones := MusicTones()
	if len(tones) == 0 {
		t.Fatal("no MusicTones")
	}
	if !slices.IsSorted(tones) {
		t.Errorf("MusicTones not sorted: %v", tones)
	}
	for _, f := range tones {
		if f < 300 || f > 1000 {
			t.Errorf("tone %.2f Hz outside 300–1000 Hz", f)
		}
		for _, a := range avoidHz {
			if math.Abs(f-a) < 30 {
				t.Errorf("tone %.2f Hz within 30 Hz of %.0f Hz", f, a)
			}
		}
	}
	tones[0] = 1234
	if MusicTones()[0] == 1234 {
		t.Error("MusicTones returns a slice callers can change the package's tones through")
	}
}

func TestMusicShape(t *testing.T) {
	m := Music()
	if want := 8 * SampleRate; len(m) != want {
		t.Fatalf("len(Music()) = %d, want %d (8 s)", len(m), want)
	}
	if len(m)%160 != 0 {
		t.Errorf("len(Music()) = %d is not a whole number of 20 ms frames", len(m))
	}
	// The loop starts and ends at zero amplitude: the first and last
	// samples are (nearly) zero and the first and last 10 ms are quiet.
	if abs(int(m[0])) > 16 || abs(int(m[len(m)-1])) > 16 {
		t.Errorf("loop starts at %d and ends at %d, want 0", m[0], m[len(m)-1])
	}
	edge := SampleRate / 100
	if p := max(peakOf(m[:edge]), peakOf(m[len(m)-edge:])); p > 32767/100 {
		t.Errorf("peak %d in the first or last 10 ms, want <= 1%% of full scale", p)
	}
	if got := rmsDBFS(m); math.Abs(got-musicRMSdBFS) > 2 {
		t.Errorf("RMS %.2f dBFS, want %.0f ± 2", got, musicRMSdBFS)
	}
	if p := peakOf(m); p >= 32767/2 {
		t.Errorf("peak %d (%.3f of full scale), want < 0.5", p, float64(p)/32767)
	}
}

// TestMusicSpectrum checks that the music is made of MusicTones and
// nothing else: over the loop each tone is far stronger than the
// call-progress and DTMF frequencies, and than any frequency 25 Hz or more
// away from every tone.
func TestMusicSpectrum(t *testing.T) {
	m := Music()
	tones := MusicTones()
	weakest := math.Inf(1)
	for _, f := range tones {
		weakest = min(weakest, goertzel(m, f))
	}
	for _, a := range avoidHz {
		if r := dB(weakest / goertzel(m, a)); r < 40 {
			t.Errorf("weakest tone only %.1f dB above %.0f Hz, want >= 40 dB", r, a)
		}
	}
	for f := 100.0; f < SampleRate/2; f += 5 {
		near := false
		for _, tone := range tones {
			near = near || math.Abs(f-tone) < 25
		}
		if near {
			continue
		}
		if r := dB(weakest / goertzel(m, f)); r < 40 {
			t.Errorf("weakest tone only %.1f dB above %.0f Hz, want >= 40 dB", r, f)
		}
	}
}

// TestMusicNoClicks looks for clicks, in the music and at the loop point: a
// click is broadband, so no 32 ms window of the loop played twice may have
// noticeable energy above the highest tone.
func TestMusicNoClicks(t *testing.T) {
	m := Music()
	looped := append(slices.Clone(m), m...)
	const win = 256
	hann := make([]float64, win)
	for i := range hann {
		hann[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/win)
	}
	x := make([]int16, win)
	worst, at := 0.0, 0
	for start := 0; start+win <= len(looped); start += win / 4 {
		for i := range x {
			x[i] = int16(float64(looped[start+i]) * hann[i])
		}
		for _, f := range []float64{1200, 1600, 2000, 2500, 3000, 3500} {
			// A full-scale sine through this window gives about
			// (32767·win/4)²; express the power relative to that.
			p := goertzel(x, f) / math.Pow(32767*win/4, 2)
			if p > worst {
				worst, at = p, start
			}
		}
	}
	if dB(worst) > -70 {
		t.Errorf("energy above the tones %.1f dBFS in the window at %.3f s, want <= -70 dBFS",
			dB(worst), float64(at)/SampleRate)
	}
}

func TestMusicCached(t *testing.T) {
	var wg sync.WaitGroup
	got := make([][]int16, 8)
	for i := range got {
		wg.Go(func() { got[i] = Music() })
	}
	wg.Wait()
	for _, g := range got[1:] {
		if &g[0] != &got[0][0] {
			t.Fatal("Music returned different slices")
		}
	}
	if !slices.Equal(synthMusic(), got[0]) {
		t.Fatal("Music is not deterministic")
	}
}
