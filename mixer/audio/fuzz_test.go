package audio

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzDecodeWAV feeds DecodeWAV arbitrary bytes. Whatever it gets, it must
// not panic; on failure it returns no samples and an error wrapping one of
// its sentinels; on success it returns between 1 and MaxSeconds of samples,
// never more than the input could hold, which EncodeWAV writes back
// losslessly. The seed corpus in testdata/fuzz/FuzzDecodeWAV holds valid
// PCM, µ-law, A-law and extensible files and broken ones.
func FuzzDecodeWAV(f *testing.F) {
	f.Add(EncodeWAV(testPCM))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := DecodeWAV(data)
		if err != nil {
			if pcm != nil {
				t.Fatalf("%d samples returned with error %v", len(pcm), err)
			}
			if !errors.Is(err, ErrNotWAV) && !errors.Is(err, ErrFormat) &&
				!errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if !strings.HasPrefix(err.Error(), "audio: ") {
				t.Fatalf("error %q lacks the audio: prefix", err)
			}
			return
		}
		if len(pcm) == 0 || len(pcm) > maxSamples || len(pcm) > len(data) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
		}
		again, err := DecodeWAV(EncodeWAV(pcm))
		if err != nil || !slices.Equal(again, pcm) {
			t.Fatalf("EncodeWAV round trip: %v", err)
		}
	})
}
