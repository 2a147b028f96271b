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
// The tables (20 KiB to encode, 129 KiB of byte tables below) are built
// with g711's own functions, once per Pool (and per standalone Session,
// about 0.2 ms) and then only read, so workers share them freely and the
// package keeps no global state.
type encoder struct {
	ulaw [1 << 14]byte // indexed by uint16(sample) >> 2
	alaw [1 << 12]byte // indexed by uint16(sample) >> 4

	// Frames that arrive whole and are heard in a G.711 codec need not
	// pass through linear PCM at all: every output byte depends on one
	// or two input bytes. recode[f][t][b] is byte b of codec f decoded
	// and encoded in codec t; pair[c][a<<8|b] is the saturating sum of
	// bytes a and b of codec c, encoded in c. Both are what decode, add2
	// and encode give, byte for byte (TestEncoderByteTables checks every
	// entry), for one load per sample instead of two decodes, a clamped
	// add and an encode, and none of the 320-byte frames in between.
	// Indexed by codecIndex. 129 KiB, built with the tables above.
	recode [2][2][256]byte
	pair   [2][1 << 16]byte
}

func newEncoder() *encoder {
	e := &encoder{}
	for i := range e.ulaw {
		e.ulaw[i] = g711.EncodeUlawFrame(int16(uint16(i) << 2))
	}
	for i := range e.alaw {
		e.alaw[i] = g711.EncodeAlawFrame(int16(uint16(i) << 4))
	}
	for _, f := range [...]Codec{CodecPCMU, CodecPCMA} {
		var lin [256]int32
		for b := range lin {
			lin[b] = int32(f.decodeSample(byte(b)))
		}
		for _, t := range [...]Codec{CodecPCMU, CodecPCMA} {
			for b, v := range lin {
				e.recode[codecIndex(f)][codecIndex(t)][b] = e.sample(t, int16(v))
			}
		}
		tab := &e.pair[codecIndex(f)]
		for a, va := range lin {
			for b, vb := range lin {
				tab[a<<8|b] = e.sample(f, int16(min(max(va+vb, -32768), 32767)))
			}
		}
	}
	return e
}

// codecIndex maps a valid codec to 0 (PCMU) or 1 (PCMA), the index of its
// byte tables.
func codecIndex(c Codec) int { return int(c-CodecPCMU) & 1 }

// decodeSample is one byte of codec c as a linear sample.
func (c Codec) decodeSample(b byte) int16 {
	if c == CodecPCMA {
		return g711.DecodeAlawFrame(b)
	}
	return g711.DecodeUlawFrame(b)
}

// sample encodes one linear sample in codec c, as encode does.
func (e *encoder) sample(c Codec, v int16) byte {
	if c == CodecPCMA {
		return e.alaw[uint16(v)>>4]
	}
	return e.ulaw[uint16(v)>>2]
}

// recodeFrame writes src, a whole frame in codec from, into dst in codec
// to: the frame a leg hears when it hears one other.
func (e *encoder) recodeFrame(from, to Codec, dst, src *[FrameSamples]byte) {
	tab := &e.recode[codecIndex(from)][codecIndex(to)]
	for i, b := range src {
		dst[i] = tab[b]
	}
}

// mixPair writes into dst the mix of a and b, whole frames in codec c, in c:
// the frame a leg hears when it hears two others in its own codec.
func (e *encoder) mixPair(c Codec, dst, a, b *[FrameSamples]byte) {
	tab := &e.pair[codecIndex(c)]
	for i := range dst {
		dst[i] = tab[uint16(a[i])<<8|uint16(b[i])]
	}
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

// G711 lays linear audio over encoded G.711 frames with the mixer's exact
// tables, for audio added to a mixed frame after the mix: prompts, music
// on hold, cues. g711's per-sample encoder spends a leading-zero count and
// several branches per sample where the table is one load; a waiting
// caller hears music on every frame. It only reads its tables, so one
// value serves every goroutine.
type G711 struct{ e *encoder }

// NewG711 builds the tables; a Pool has them already (Pool.G711).
func NewG711() G711 { return G711{newEncoder()} }

// G711 returns the pool's tables.
func (p *Pool) G711() G711 { return G711{p.enc} }

// AddInto adds pcm into payload, a frame in codec c: each byte becomes the
// saturating sum of its own sample and pcm's, encoded again in c, exactly
// as g711's functions would make it. pcm must be at least as long as
// payload.
func (g G711) AddInto(c Codec, payload []byte, pcm []int16) {
	pcm = pcm[:len(payload)]
	if c == CodecPCMA {
		for i, b := range payload {
			v := int32(g711.DecodeAlawFrame(b)) + int32(pcm[i])
			payload[i] = g.e.alaw[uint16(min(max(v, -32768), 32767))>>4]
		}
		return
	}
	for i, b := range payload {
		v := int32(g711.DecodeUlawFrame(b)) + int32(pcm[i])
		payload[i] = g.e.ulaw[uint16(min(max(v, -32768), 32767))>>2]
	}
}
