package tone

import (
	"math"
	"testing"
)

func TestLevelMeasuresGeneratedTone(t *testing.T) {
	const rate = 8000
	buf := make([]int16, rate)
	s := NewSine(1000, -12, rate)
	// Fill in 20 ms pieces to check that phase carries over.
	for i := 0; i < len(buf); i += 160 {
		s.Fill(buf[i : i+160])
	}
	if got := Level(buf, 1000, rate); math.Abs(got-(-12)) > 0.2 {
		t.Errorf("level at 1000 Hz = %.2f dBFS, want -12", got)
	}
	for _, f := range []float64{700, 1500} {
		if got := Level(buf, f, rate); got > -60 {
			t.Errorf("level at %v Hz = %.2f dBFS, want below -60", f, got)
		}
	}
}

func TestLevelOfSilence(t *testing.T) {
	if got := Level(make([]int16, 800), 700, 8000); got != -200 {
		t.Errorf("level of silence = %v, want -200", got)
	}
}
