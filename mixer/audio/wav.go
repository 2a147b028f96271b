package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zaf/g711"
)

// SampleRate is 8000: every sample this package reads, makes or returns is
// 8000 Hz mono signed 16-bit PCM, the rate of G.711 telephony.
const SampleRate = 8000

// MaxSeconds is the longest audio DecodeWAV and LoadWAV accept, in seconds.
// It bounds the memory a decoded file can take (600 s is 9.6 MB of PCM).
const MaxSeconds = 600

// maxSamples is MaxSeconds of audio in samples.
const maxSamples = MaxSeconds * SampleRate

// maxFileBytes is the largest file LoadWAV reads: MaxSeconds of 16-bit PCM
// plus room for headers and metadata chunks.
const maxFileBytes = maxSamples*2 + 1<<20

// Errors DecodeWAV and LoadWAV wrap; test for them with errors.Is. The
// wrapping error says what was found.
var (
	// ErrNotWAV means the bytes are not a RIFF/WAVE file at all.
	ErrNotWAV = errors.New("not a RIFF/WAVE file")
	// ErrFormat means a WAV file whose audio is not 8000 Hz mono 16-bit
	// PCM, µ-law or A-law, or whose fmt chunk is missing or malformed.
	ErrFormat = errors.New("unsupported WAV format")
	// ErrEmpty means a WAV file with no samples: no data chunk, or an
	// empty one.
	ErrEmpty = errors.New("no audio in WAV file")
	// ErrTooLong means a WAV file with more than MaxSeconds of audio.
	ErrTooLong = errors.New("WAV file too long")
)

// WAV format codes (the fmt chunk's wFormatTag).
const (
	formatPCM        = 0x0001
	formatADPCM      = 0x0002
	formatFloat      = 0x0003
	formatALaw       = 0x0006
	formatMuLaw      = 0x0007
	formatIMAADPCM   = 0x0011
	formatGSM610     = 0x0031
	formatMP3        = 0x0055
	formatExtensible = 0xFFFE
)

// extensibleGUIDTail is the part of a WAVE_FORMAT_EXTENSIBLE sub-format GUID
// after its first two bytes, which hold the plain format code
// (KSDATAFORMAT_SUBTYPE_PCM is 00000001-0000-0010-8000-00aa00389b71).
var extensibleGUIDTail = []byte{
	0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
	0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
}

// waveFormat is what DecodeWAV needs from a fmt chunk.
type waveFormat struct {
	code       uint16 // plain format code, the sub-format for extensible
	extensible bool
	channels   uint16
	rate       uint32
	bits       uint16
}

// String describes the format for error messages, e.g.
// "44100 Hz, 2 channels, 16-bit PCM".
func (f waveFormat) String() string {
	ch := "1 channel"
	if f.channels != 1 {
		ch = fmt.Sprintf("%d channels", f.channels)
	}
	name := formatName(f.code)
	if f.extensible {
		name += " (extensible)"
	}
	if f.bits == 0 { // compressed formats may leave it unset
		return fmt.Sprintf("%d Hz, %s, %s", f.rate, ch, name)
	}
	return fmt.Sprintf("%d Hz, %s, %d-bit %s", f.rate, ch, f.bits, name)
}

// formatName names a WAV format code.
func formatName(code uint16) string {
	switch code {
	case formatPCM:
		return "PCM"
	case formatADPCM:
		return "MS ADPCM"
	case formatFloat:
		return "IEEE float"
	case formatALaw:
		return "A-law"
	case formatMuLaw:
		return "µ-law"
	case formatIMAADPCM:
		return "IMA ADPCM"
	case formatGSM610:
		return "GSM 6.10"
	case formatMP3:
		return "MPEG layer 3"
	}
	return fmt.Sprintf("format 0x%04X", code)
}

// supported reports whether DecodeWAV can decode audio in format f.
func (f waveFormat) supported() bool {
	if f.rate != SampleRate || f.channels != 1 {
		return false
	}
	switch f.code {
	case formatPCM:
		return f.bits == 16
	case formatALaw, formatMuLaw:
		return f.bits == 8
	}
	return false
}

// DecodeWAV decodes the bytes of a WAV file into 8000 Hz mono 16-bit PCM.
//
// It accepts a RIFF/WAVE file whose fmt chunk is format 1 (16-bit PCM),
// 6 (G.711 A-law) or 7 (G.711 µ-law), or WAVE_FORMAT_EXTENSIBLE (0xFFFE)
// carrying one of those sub-formats, mono, at 8000 Hz. It skips chunks it
// does not need (LIST, fact, cue and the like), honours the pad byte after
// an odd-sized chunk, and ignores the RIFF size. A data chunk that claims
// more bytes than the file holds (a write cut short) yields the samples that
// are there; a trailing half sample is dropped.
//
// Errors start with "audio: " and wrap ErrNotWAV, ErrFormat (the message
// names the format found and the formats wanted), ErrEmpty (no data chunk,
// or no samples in it) or ErrTooLong (more than MaxSeconds of audio).
// DecodeWAV never panics, whatever the input, and returns nil samples with
// any error. The result is a new slice the caller owns.
func DecodeWAV(data []byte) ([]int16, error) {
	pcm, err := decodeWAV(data)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	return pcm, nil
}

// LoadWAV reads the WAV file at path and decodes it like DecodeWAV. Its
// errors name the path. It reads at most enough bytes for MaxSeconds of
// 16-bit PCM plus 1 MiB of headers; a larger file is refused with
// ErrTooLong before it is decoded.
func LoadWAV(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("audio: %s: %w: file larger than %d bytes (limit %d s)",
			path, ErrTooLong, maxFileBytes, MaxSeconds)
	}
	pcm, err := decodeWAV(data)
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", path, err)
	}
	return pcm, nil
}

// decodeWAV is DecodeWAV without the "audio: " prefix on its errors.
func decodeWAV(data []byte) ([]int16, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		head := data
		if len(head) > 12 {
			head = head[:12]
		}
		return nil, fmt.Errorf("%w: starts with %q", ErrNotWAV, head)
	}
	var (
		format  *waveFormat
		payload []byte
		sawData bool
	)
	// Offsets are int64 so that chunk sizes near 4 GiB cannot overflow.
	for pos := int64(12); pos+8 <= int64(len(data)); {
		id := string(data[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(data[pos+4 : pos+8]))
		body := pos + 8
		end := body + size
		truncated := end > int64(len(data))
		if truncated {
			end = int64(len(data))
		}
		switch id {
		case "fmt ":
			if format != nil {
				break // the first fmt chunk wins
			}
			if truncated {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes cut short at %d", ErrFormat, size, end-body)
			}
			f, err := parseFormat(data[body:end])
			if err != nil {
				return nil, err
			}
			format = &f
		case "data":
			if !sawData {
				sawData = true
				payload = data[body:end]
			}
		}
		if format != nil && sawData {
			break
		}
		pos = end + size&1 // odd-sized chunks are followed by a pad byte
	}
	if format == nil {
		return nil, fmt.Errorf("%w: no fmt chunk", ErrFormat)
	}
	if !format.supported() {
		return nil, fmt.Errorf("%w: %s; want %d Hz mono 16-bit PCM, µ-law or A-law",
			ErrFormat, format, SampleRate)
	}
	if !sawData {
		return nil, fmt.Errorf("%w: no data chunk", ErrEmpty)
	}
	n := len(payload)
	if format.code == formatPCM {
		n /= 2
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: data chunk holds %d bytes, no whole sample", ErrEmpty, len(payload))
	}
	if n > maxSamples {
		return nil, fmt.Errorf("%w: %d samples (%.1f s); limit %d s",
			ErrTooLong, n, float64(n)/SampleRate, MaxSeconds)
	}
	pcm := make([]int16, n)
	switch format.code {
	case formatPCM:
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(payload[2*i:]))
		}
	case formatMuLaw:
		for i, b := range payload {
			pcm[i] = g711.DecodeUlawFrame(b)
		}
	case formatALaw:
		for i, b := range payload {
			pcm[i] = g711.DecodeAlawFrame(b)
		}
	}
	return pcm, nil
}

// parseFormat reads a fmt chunk's body, resolving WAVE_FORMAT_EXTENSIBLE to
// its sub-format. It does not judge whether the format is supported.
func parseFormat(b []byte) (waveFormat, error) {
	if len(b) < 16 {
		return waveFormat{}, fmt.Errorf("%w: fmt chunk of %d bytes, want at least 16", ErrFormat, len(b))
	}
	le := binary.LittleEndian
	f := waveFormat{
		code:     le.Uint16(b[0:2]),
		channels: le.Uint16(b[2:4]),
		rate:     le.Uint32(b[4:8]),
		bits:     le.Uint16(b[14:16]),
	}
	if f.code != formatExtensible {
		return f, nil
	}
	// WAVEFORMATEXTENSIBLE: cbSize (2), valid bits (2), channel mask (4),
	// sub-format GUID (16), 40 bytes in all.
	if len(b) < 40 {
		return waveFormat{}, fmt.Errorf("%w: extensible fmt chunk of %d bytes, want 40", ErrFormat, len(b))
	}
	guid := b[24:40]
	if string(guid[2:]) != string(extensibleGUIDTail) {
		return waveFormat{}, fmt.Errorf("%w: extensible sub-format GUID % X", ErrFormat, guid)
	}
	f.code = le.Uint16(guid[0:2])
	f.extensible = true
	return f, nil
}

// EncodeWAV returns pcm as a WAV file: RIFF/WAVE, 16-bit PCM, mono,
// 8000 Hz, with a 16-byte fmt chunk and nothing else. DecodeWAV reads it
// back unchanged. It is meant for tests and tools; pcm should be at most
// MaxSeconds long for the result to load.
func EncodeWAV(pcm []int16) []byte {
	dataLen := 2 * len(pcm)
	out := make([]byte, 44+dataLen)
	le := binary.LittleEndian
	copy(out[0:4], "RIFF")
	le.PutUint32(out[4:8], uint32(36+dataLen))
	copy(out[8:12], "WAVE")
	copy(out[12:16], "fmt ")
	le.PutUint32(out[16:20], 16)
	le.PutUint16(out[20:22], formatPCM)
	le.PutUint16(out[22:24], 1)            // channels
	le.PutUint32(out[24:28], SampleRate)   // sample rate
	le.PutUint32(out[28:32], SampleRate*2) // byte rate
	le.PutUint16(out[32:34], 2)            // block align
	le.PutUint16(out[34:36], 16)           // bits per sample
	copy(out[36:40], "data")
	le.PutUint32(out[40:44], uint32(dataLen))
	for i, s := range pcm {
		le.PutUint16(out[44+2*i:], uint16(s))
	}
	return out
}
