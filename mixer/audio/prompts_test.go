package audio

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wantPrompts is every built-in prompt, sorted.
func wantPrompts() []string {
	names := []string{
		"queue-welcome", "queue-position", "queue-in-line", "queue-wait",
		"queue-minute", "queue-minutes", "queue-less-than-minute",
		"queue-thanks", "queue-callback", "queue-leave", "queue-closed",
		"num-hundred",
	}
	for n := 0; n < 20; n++ {
		names = append(names, fmt.Sprintf("num-%d", n))
	}
	for n := 20; n <= 90; n += 10 {
		names = append(names, fmt.Sprintf("num-%d", n))
	}
	slices.Sort(names)
	return names
}

func TestPromptNames(t *testing.T) {
	got := PromptNames()
	if want := wantPrompts(); !slices.Equal(got, want) {
		t.Fatalf("PromptNames() = %v\nwant %v", got, want)
	}
	got[0] = "changed"
	if PromptNames()[0] == "changed" {
		t.Error("PromptNames returns a slice callers can change the package's list through")
	}
	if len(promptErrs) != 0 {
		t.Errorf("embedded prompts that do not decode: %v", promptErrs)
	}
}

func TestPrompts(t *testing.T) {
	for _, name := range wantPrompts() {
		t.Run(name, func(t *testing.T) {
			// Stored as G.711 µ-law (format 7), mono, 8 kHz.
			data, err := promptFiles.ReadFile("prompts/" + name + ".wav")
			if err != nil {
				t.Fatal(err)
			}
			if len(data) < 36 || string(data[12:16]) != "fmt " || binary.LittleEndian.Uint16(data[20:22]) != formatMuLaw {
				t.Errorf("prompts/%s.wav is not a µ-law WAV", name)
			}

			pcm, ok := Prompt(name)
			if !ok {
				t.Fatalf("Prompt(%q) not found", name)
			}
			secs := float64(len(pcm)) / SampleRate
			if secs < 0.3 || secs > 10 {
				t.Errorf("%.2f s long, want 0.3–10 s", secs)
			}
			if r := rmsDBFS(pcm); r < -30 {
				t.Errorf("RMS %.1f dBFS, want > -30 dBFS (not silent)", r)
			}
			// Normalised to -3 dBFS peak; µ-law rounding moves it a little.
			if p := 2 * dB(float64(peakOf(pcm))/32767); p < -3.5 || p > -2.5 {
				t.Errorf("peak %.1f dBFS, want about -3 dBFS", p)
			}
			// Trimmed and faded: no silence to skip, no click at either end.
			if a, b := abs(int(pcm[0])), abs(int(pcm[len(pcm)-1])); a > 100 || b > 100 {
				t.Errorf("starts at %d and ends at %d, want near 0", pcm[0], pcm[len(pcm)-1])
			}
			lead := SampleRate / 10
			if p := max(peakOf(pcm[:lead]), peakOf(pcm[len(pcm)-lead:])); p < 32767/100 {
				t.Errorf("first or last 100 ms silent (peak %d): not trimmed", p)
			}
		})
	}
	if pcm, ok := Prompt("no-such-prompt"); ok || pcm != nil {
		t.Errorf("Prompt(no-such-prompt) = %d samples, %v", len(pcm), ok)
	}
}

func TestPromptConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, ok := Prompt("queue-welcome"); !ok {
				t.Error("queue-welcome missing")
			}
		})
	}
	wg.Wait()
}

func TestNumber(t *testing.T) {
	tests := []struct {
		n    int
		want []string
	}{
		{-1, nil},
		{1000, nil},
		{-1000, nil},
		{0, []string{"num-0"}},
		{1, []string{"num-1"}},
		{9, []string{"num-9"}},
		{10, []string{"num-10"}},
		{13, []string{"num-13"}},
		{19, []string{"num-19"}},
		{20, []string{"num-20"}},
		{21, []string{"num-20", "num-1"}},
		{45, []string{"num-40", "num-5"}},
		{90, []string{"num-90"}},
		{99, []string{"num-90", "num-9"}},
		{100, []string{"num-1", "num-hundred"}},
		{101, []string{"num-1", "num-hundred", "num-1"}},
		{105, []string{"num-1", "num-hundred", "num-5"}},
		{110, []string{"num-1", "num-hundred", "num-10"}},
		{119, []string{"num-1", "num-hundred", "num-19"}},
		{120, []string{"num-1", "num-hundred", "num-20"}},
		{300, []string{"num-3", "num-hundred"}},
		{342, []string{"num-3", "num-hundred", "num-40", "num-2"}},
		{999, []string{"num-9", "num-hundred", "num-90", "num-9"}},
	}
	for _, tt := range tests {
		if got := Number(tt.n); !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
			t.Errorf("Number(%d) = %#v, want %#v", tt.n, got, tt.want)
		}
	}
}

// TestNumberAll checks every number 0–999: each name is a prompt, and the
// words read back as the number.
func TestNumberAll(t *testing.T) {
	for n := 0; n <= 999; n++ {
		names := Number(n)
		if len(names) == 0 || len(names) > 4 {
			t.Fatalf("Number(%d) = %v", n, names)
		}
		total, group := 0, 0
		for _, name := range names {
			if _, ok := Prompt(name); !ok {
				t.Fatalf("Number(%d) uses %q, which is not a prompt", n, name)
			}
			word := strings.TrimPrefix(name, "num-")
			if word == "hundred" {
				total, group = total+group*100, 0
				continue
			}
			v, err := strconv.Atoi(word)
			if err != nil {
				t.Fatalf("Number(%d) uses %q", n, name)
			}
			if v == 0 && n != 0 {
				t.Errorf("Number(%d) = %v says zero", n, names)
			}
			group += v
		}
		if total+group != n {
			t.Errorf("Number(%d) = %v reads as %d", n, names, total+group)
		}
	}
}
