package mixer

import "github.com/zaf/g711"

// encoder turns linear PCM into G.711 by table lookup. g711's per-sample
// encoders spend a leading-zero count and several branches per sample, and
// encoding is most of a mixer's work (one frame per leg per tick); a table
// makes it one load. The tables are exact, not approximations: µ-law only
// looks at the top 14 bits of a sample and A-law at the top 12 (for
// negative samples, of their one's complement, which has the same top bits
// for every sample of a group), so one table entry per group reproduces
// g711's output bit for bit — TestEncoderMatchesG711 checks all 65536.
//
// 20 KiB of tables are built with g711's own functions, once per Pool (and
// per standalone Session) and then only read, so workers share them freely
// and the package keeps no global state.
type encoder struct {
	ulaw [1 << 14]byte // indexed by uint16(sample) >> 2
	alaw [1 << 12]byte // indexed by uint16(sample) >> 4
}

func newEncoder() *encoder {
	e := &encoder{}
	for i := range e.ulaw {
		e.ulaw[i] = g711.EncodeUlawFrame(int16(uint16(i) << 2))
	}
	for i := range e.alaw {
		e.alaw[i] = g711.EncodeAlawFrame(int16(uint16(i) << 4))
	}
	return e
}

// encode writes src into dst in codec c.
func (e *encoder) encode(c Codec, dst *[FrameSamples]byte, src *Frame) {
	if c == CodecPCMA {
		for i, s := range src {
			dst[i] = e.alaw[uint16(s)>>4]
		}
		return
	}
	for i, s := range src {
		dst[i] = e.ulaw[uint16(s)>>2]
	}
}

// silence writes one frame of silence in codec c.
func (e *encoder) silence(c Codec, dst *[FrameSamples]byte) {
	b := e.ulaw[0]
	if c == CodecPCMA {
		b = e.alaw[0]
	}
	for i := range dst {
		dst[i] = b
	}
}
