package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zaf/g711"
)

// chunk is one RIFF chunk for buildWAV. If size is set it is written as the
// chunk's size instead of len(body) (to fake truncated files).
type chunk struct {
	id   string
	body []byte
	size *uint32
}

// buildWAV assembles a RIFF/WAVE file from chunks, adding the pad byte after
// each odd-sized body.
func buildWAV(chunks ...chunk) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write([]byte{0, 0, 0, 0}) // RIFF size, filled in below
	b.WriteString("WAVE")
	for _, c := range chunks {
		b.WriteString(c.id)
		size := uint32(len(c.body))
		if c.size != nil {
			size = *c.size
		}
		b.Write(binary.LittleEndian.AppendUint32(nil, size))
		b.Write(c.body)
		if len(c.body)%2 == 1 && c.size == nil {
			b.WriteByte(0)
		}
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out
}

func sizeOf(n uint32) *uint32 { return &n }

// fmtBody is a plain 16-byte fmt chunk body.
func fmtBody(code, channels uint16, rate uint32, bits uint16) []byte {
	le := binary.LittleEndian
	block := channels * bits / 8
	b := le.AppendUint16(nil, code)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*uint32(block))
	b = le.AppendUint16(b, block)
	return le.AppendUint16(b, bits)
}

// fmtBody18 is a fmt chunk body with a zero cbSize, as sox writes for µ-law.
func fmtBody18(code, channels uint16, rate uint32, bits uint16) []byte {
	return append(fmtBody(code, channels, rate, bits), 0, 0)
}

// extBody is a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk body with the
// standard sub-format GUID for code.
func extBody(code, channels uint16, rate uint32, bits uint16) []byte {
	le := binary.LittleEndian
	b := fmtBody(formatExtensible, channels, rate, bits)
	b = le.AppendUint16(b, 22)   // cbSize
	b = le.AppendUint16(b, bits) // valid bits per sample
	b = le.AppendUint32(b, 4)    // channel mask: front centre
	b = le.AppendUint16(b, code)
	return append(b, extensibleGUIDTail...)
}

// pcmBytes is pcm as little-endian 16-bit bytes.
func pcmBytes(pcm []int16) []byte {
	var b []byte
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// lpcmToInt16 turns the little-endian 16-bit output of g711.DecodeUlaw and
// g711.DecodeAlaw into samples.
func lpcmToInt16(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// allBytes is every byte value once: every µ-law or A-law code.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// testPCM is a short signal that covers the extremes of int16.
var testPCM = []int16{0, 1, -1, 32767, -32768, 12345, -12345, 256, -256, 7}

func TestDecodeWAV(t *testing.T) {
	ulaw := lpcmToInt16(g711.DecodeUlaw(allBytes()))
	alaw := lpcmToInt16(g711.DecodeAlaw(allBytes()))
	list := chunk{"LIST", []byte("INFOISFT\x05\x00\x00\x00sox\x00\x00"), nil}
	tests := []struct {
		name string
		data []byte
		want []int16
	}{
		{"EncodeWAV round trip", EncodeWAV(testPCM), testPCM},
		{"one sample", EncodeWAV([]int16{-5}), []int16{-5}},
		{"pcm", buildWAV(chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}, chunk{"data", pcmBytes(testPCM), nil}), testPCM},
		{"µ-law", buildWAV(chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil}, chunk{"data", allBytes(), nil}), ulaw},
		{"A-law", buildWAV(chunk{"fmt ", fmtBody(6, 1, 8000, 8), nil}, chunk{"data", allBytes(), nil}), alaw},
		{"µ-law sox style: fmt 18 bytes and fact", buildWAV(
			chunk{"fmt ", fmtBody18(7, 1, 8000, 8), nil},
			chunk{"fact", binary.LittleEndian.AppendUint32(nil, 256), nil},
			chunk{"data", allBytes(), nil}), ulaw},
		{"extensible pcm", buildWAV(chunk{"fmt ", extBody(1, 1, 8000, 16), nil}, chunk{"data", pcmBytes(testPCM), nil}), testPCM},
		{"extensible µ-law", buildWAV(chunk{"fmt ", extBody(7, 1, 8000, 8), nil}, chunk{"data", allBytes(), nil}), ulaw},
		{"extensible A-law", buildWAV(chunk{"fmt ", extBody(6, 1, 8000, 8), nil}, chunk{"data", allBytes(), nil}), alaw},
		{"LIST chunk before data", buildWAV(chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}, list, chunk{"data", pcmBytes(testPCM), nil}), testPCM},
		{"LIST chunk before fmt", buildWAV(list, chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}, chunk{"data", pcmBytes(testPCM), nil}), testPCM},
		{"odd chunk padded", buildWAV(
			chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil},
			chunk{"junk", []byte{0xAA, 0xBB, 0xCC}, nil},
			chunk{"data", allBytes(), nil}), ulaw},
		{"odd data chunk then more chunks", buildWAV(
			chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil},
			chunk{"data", []byte{0x00, 0x80, 0x7F}, nil},
			list), lpcmToInt16(g711.DecodeUlaw([]byte{0x00, 0x80, 0x7F}))},
		{"odd fmt chunk padded", buildWAV(
			chunk{"fmt ", append(fmtBody(6, 1, 8000, 8), 0, 0, 0), nil},
			chunk{"data", allBytes(), nil}), alaw},
		{"data before fmt", buildWAV(chunk{"data", pcmBytes(testPCM), nil}, chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}), testPCM},
		{"first data chunk wins", buildWAV(
			chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil},
			chunk{"data", pcmBytes(testPCM), nil},
			chunk{"data", pcmBytes([]int16{9, 9}), nil}), testPCM},
		{"data size beyond the end of the file", buildWAV(
			chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil},
			chunk{"data", pcmBytes(testPCM), sizeOf(1 << 20)}), testPCM},
		{"data size 0xFFFFFFFF and a half sample", buildWAV(
			chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil},
			chunk{"data", append(pcmBytes(testPCM), 0x55), sizeOf(0xFFFFFFFF)}), testPCM},
		{"wrong RIFF size", func() []byte {
			b := EncodeWAV(testPCM)
			binary.LittleEndian.PutUint32(b[4:8], 0)
			return b
		}(), testPCM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(tt.data)
			if err != nil {
				t.Fatalf("DecodeWAV: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("DecodeWAV = %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	pcm8k := func(body []byte) []byte {
		return buildWAV(chunk{"fmt ", body, nil}, chunk{"data", make([]byte, 64), nil})
	}
	badGUID := extBody(1, 1, 8000, 16)
	badGUID[len(badGUID)-1] ^= 0xFF
	tests := []struct {
		name string
		data []byte
		want error
		msg  []string // substrings the message must hold
	}{
		{"44.1 kHz", pcm8k(fmtBody(1, 1, 44100, 16)), ErrFormat,
			[]string{"audio: unsupported WAV format: 44100 Hz, 1 channel, 16-bit PCM; want 8000 Hz mono 16-bit PCM, µ-law or A-law"}},
		{"stereo", pcm8k(fmtBody(1, 2, 8000, 16)), ErrFormat, []string{"8000 Hz, 2 channels, 16-bit PCM"}},
		{"44.1 kHz stereo", pcm8k(fmtBody(1, 2, 44100, 16)), ErrFormat, []string{"44100 Hz, 2 channels, 16-bit PCM"}},
		{"8-bit PCM", pcm8k(fmtBody(1, 1, 8000, 8)), ErrFormat, []string{"8000 Hz, 1 channel, 8-bit PCM"}},
		{"24-bit PCM", pcm8k(fmtBody(1, 1, 8000, 24)), ErrFormat, []string{"24-bit PCM"}},
		{"float", pcm8k(fmtBody(3, 1, 8000, 32)), ErrFormat, []string{"32-bit IEEE float"}},
		{"16-bit µ-law", pcm8k(fmtBody(7, 1, 8000, 16)), ErrFormat, []string{"16-bit µ-law"}},
		{"A-law 16 kHz", pcm8k(fmtBody(6, 1, 16000, 8)), ErrFormat, []string{"16000 Hz, 1 channel, 8-bit A-law"}},
		{"MP3", pcm8k(fmtBody(0x55, 1, 8000, 0)), ErrFormat, []string{"8000 Hz, 1 channel, MPEG layer 3;"}},
		{"unknown format code", pcm8k(fmtBody(0x1234, 1, 8000, 16)), ErrFormat, []string{"format 0x1234"}},
		{"extensible float", pcm8k(extBody(3, 1, 8000, 32)), ErrFormat, []string{"32-bit IEEE float (extensible)"}},
		{"extensible stereo", pcm8k(extBody(1, 2, 8000, 16)), ErrFormat, []string{"2 channels, 16-bit PCM (extensible)"}},
		{"extensible unknown GUID", pcm8k(badGUID), ErrFormat, []string{"extensible sub-format GUID 01 00 00 00"}},
		{"extensible fmt too short", pcm8k(fmtBody18(formatExtensible, 1, 8000, 16)), ErrFormat, []string{"extensible fmt chunk of 18 bytes, want 40"}},
		{"fmt too short", pcm8k(fmtBody(1, 1, 8000, 16)[:14]), ErrFormat, []string{"fmt chunk of 14 bytes, want at least 16"}},
		{"fmt cut short", EncodeWAV(testPCM)[:30], ErrFormat, []string{"fmt chunk of 16 bytes cut short at 10"}},
		{"no fmt chunk", buildWAV(chunk{"data", pcmBytes(testPCM), nil}), ErrFormat, []string{"no fmt chunk"}},
		{"not RIFF", []byte("ID3\x04\x00\x00\x00\x00\x00\x00 mp3 frames follow"), ErrNotWAV,
			[]string{`audio: not a RIFF/WAVE file: starts with "ID3\x04\x00\x00\x00\x00\x00\x00 m"`}},
		{"RIFF but AVI", append([]byte("RIFF\x04\x00\x00\x00AVI "), make([]byte, 32)...), ErrNotWAV, []string{`"RIFF\x04\x00\x00\x00AVI "`}},
		{"empty input", nil, ErrNotWAV, []string{`starts with ""`}},
		{"header cut short", []byte("RIFF\x00\x00"), ErrNotWAV, []string{`starts with "RIFF\x00\x00"`}},
		{"no data chunk", buildWAV(chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}), ErrEmpty, []string{"audio: no audio in WAV file: no data chunk"}},
		{"no data chunk after LIST", buildWAV(chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil}, chunk{"LIST", []byte("INFO"), nil}), ErrEmpty, []string{"no data chunk"}},
		{"empty data", buildWAV(chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}, chunk{"data", nil, nil}), ErrEmpty,
			[]string{"data chunk holds 0 bytes, no whole sample"}},
		{"empty data claiming more", buildWAV(chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil}, chunk{"data", nil, sizeOf(1000)}), ErrEmpty,
			[]string{"data chunk holds 0 bytes"}},
		{"half a sample", buildWAV(chunk{"fmt ", fmtBody(1, 1, 8000, 16), nil}, chunk{"data", []byte{1}, nil}), ErrEmpty,
			[]string{"data chunk holds 1 bytes, no whole sample"}},
		{"EncodeWAV of nothing", EncodeWAV(nil), ErrEmpty, []string{"data chunk holds 0 bytes"}},
		{"too long µ-law", buildWAV(chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil}, chunk{"data", make([]byte, maxSamples+1), nil}), ErrTooLong,
			[]string{"audio: WAV file too long: 4800001 samples (600.0 s); limit 600 s"}},
		{"too long PCM", EncodeWAV(make([]int16, maxSamples+8000)), ErrTooLong, []string{"4808000 samples (601.0 s)"}},
	}
	sentinels := []error{ErrNotWAV, ErrFormat, ErrEmpty, ErrTooLong}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(tt.data)
			if err == nil {
				t.Fatalf("DecodeWAV succeeded with %d samples, want %v", len(got), tt.want)
			}
			if got != nil {
				t.Errorf("DecodeWAV returned %d samples with its error", len(got))
			}
			for _, s := range sentinels {
				if is := errors.Is(err, s); is != (s == tt.want) {
					t.Errorf("errors.Is(%q, %v) = %v", err, s, is)
				}
			}
			if !strings.HasPrefix(err.Error(), "audio: ") {
				t.Errorf("error %q does not start with \"audio: \"", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
		})
	}
}

func TestDecodeWAVLongest(t *testing.T) {
	data := buildWAV(chunk{"fmt ", fmtBody(7, 1, 8000, 8), nil}, chunk{"data", bytes.Repeat([]byte{0xFF}, maxSamples), nil})
	pcm, err := DecodeWAV(data)
	if err != nil {
		t.Fatalf("DecodeWAV of exactly %d s: %v", MaxSeconds, err)
	}
	if len(pcm) != MaxSeconds*SampleRate {
		t.Fatalf("got %d samples, want %d", len(pcm), MaxSeconds*SampleRate)
	}
}

func TestEncodeWAV(t *testing.T) {
	want := []byte("RIFF\x28\x00\x00\x00WAVE" +
		"fmt \x10\x00\x00\x00" +
		"\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00" +
		"data\x04\x00\x00\x00" +
		"\x01\x00\x00\x80")
	if got := EncodeWAV([]int16{1, -32768}); !bytes.Equal(got, want) {
		t.Fatalf("EncodeWAV = % X\nwant % X", got, want)
	}
}

func TestLoadWAV(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.wav", EncodeWAV(testPCM))
	pcm, err := LoadWAV(good)
	if err != nil {
		t.Fatalf("LoadWAV: %v", err)
	}
	if !slices.Equal(pcm, testPCM) {
		t.Fatalf("LoadWAV = %v, want %v", pcm, testPCM)
	}

	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "missing.wav"), fs.ErrNotExist},
		{"stereo", write("stereo.wav", buildWAV(chunk{"fmt ", fmtBody(1, 2, 8000, 16), nil}, chunk{"data", make([]byte, 8), nil})), ErrFormat},
		{"not wav", write("notes.txt", []byte("hello")), ErrNotWAV},
		{"larger than the limit", write("huge.wav", make([]byte, maxFileBytes+1)), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, err := LoadWAV(tt.path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadWAV error = %v, want %v", err, tt.want)
			}
			if pcm != nil {
				t.Errorf("LoadWAV returned %d samples with its error", len(pcm))
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the path", err)
			}
			if !strings.HasPrefix(err.Error(), "audio: ") {
				t.Errorf("error %q does not start with \"audio: \"", err)
			}
		})
	}
}
