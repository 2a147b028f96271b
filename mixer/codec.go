package mixer

import (
	"fmt"

	"github.com/zaf/g711"
)

// Codec is the audio encoding of a leg's RTP payload. Only the G.711
// variants are mixed: both carry one byte per 8 kHz sample, so a 20 ms frame
// is FrameSamples bytes.
type Codec uint8

// Supported codecs, numbered so that the zero value is invalid.
const (
	CodecInvalid Codec = iota
	// CodecPCMU is G.711 µ-law, static RTP payload type 0.
	CodecPCMU
	// CodecPCMA is G.711 A-law, static RTP payload type 8.
	CodecPCMA
)

// String returns the SDP encoding name.
func (c Codec) String() string {
	switch c {
	case CodecPCMU:
		return "PCMU"
	case CodecPCMA:
		return "PCMA"
	default:
		return "invalid"
	}
}

// Valid reports whether c is a supported codec.
func (c Codec) Valid() bool { return c == CodecPCMU || c == CodecPCMA }

// PayloadType returns the static RTP payload type of c (RFC 3551).
func (c Codec) PayloadType() uint8 {
	if c == CodecPCMA {
		return 8
	}
	return 0
}

// CodecForPayloadType maps a static RTP payload type to its codec.
func CodecForPayloadType(pt uint8) (Codec, error) {
	switch pt {
	case 0:
		return CodecPCMU, nil
	case 8:
		return CodecPCMA, nil
	}
	return CodecInvalid, fmt.Errorf("%w: payload type %d", ErrUnsupportedCodec, pt)
}

// decode turns up to FrameSamples bytes of src into linear PCM in dst and
// fills the rest of dst with silence, so a short payload never leaves stale
// samples behind. It reports how many samples came from src.
func (c Codec) decode(dst *Frame, src []byte) int {
	n := len(src)
	if n > FrameSamples {
		n = FrameSamples
	}
	src = src[:n]
	if c == CodecPCMA {
		for i, b := range src {
			dst[i] = g711.DecodeAlawFrame(b)
		}
	} else {
		for i, b := range src {
			dst[i] = g711.DecodeUlawFrame(b)
		}
	}
	clear(dst[n:])
	return n
}
