package mixer

import (
	"errors"
	"testing"

	"github.com/zaf/g711"
)

// encodeRef encodes with g711's own per-sample functions: the reference the
// mixer's table encoder must match, and how test talkers make payloads.
func (c Codec) encodeRef(dst *[FrameSamples]byte, src *Frame) {
	for i, s := range src {
		if c == CodecPCMA {
			dst[i] = g711.EncodeAlawFrame(s)
		} else {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	}
}

func TestEncoderMatchesG711(t *testing.T) {
	e := newEncoder()
	for v := -32768; v <= 32767; v += FrameSamples {
		var f Frame
		for i := range f {
			f[i] = int16(min(v+i, 32767))
		}
		for _, c := range []Codec{CodecPCMU, CodecPCMA} {
			var got, want [FrameSamples]byte
			e.encode(c, &got, &f)
			c.encodeRef(&want, &f)
			if got != want {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v: sample %d encodes to %#x, want %#x", c, f[i], got[i], want[i])
					}
				}
			}
		}
	}
	var sil [FrameSamples]byte
	e.silence(CodecPCMU, &sil)
	if sil[0] != 0xff || sil[FrameSamples-1] != 0xff {
		t.Errorf("µ-law silence %#x, want 0xff", sil[0])
	}
	e.silence(CodecPCMA, &sil)
	if sil[0] != 0xd5 {
		t.Errorf("A-law silence %#x, want 0xd5", sil[0])
	}
}

func TestCodecDecodePadsShortPayload(t *testing.T) {
	var f Frame
	for i := range f {
		f[i] = 1234
	}
	n := CodecPCMU.decode(&f, []byte{0x00, 0x80})
	if n != 2 || f[0] != g711.DecodeUlawFrame(0) || f[1] != g711.DecodeUlawFrame(0x80) || f[2] != 0 || f[FrameSamples-1] != 0 {
		t.Errorf("decode of 2 bytes: n=%d frame starts %v ends %d", n, f[:3], f[FrameSamples-1])
	}
	long := make([]byte, 400)
	if n := CodecPCMA.decode(&f, long); n != FrameSamples {
		t.Errorf("decode of 400 bytes used %d, want %d", n, FrameSamples)
	}
}

func TestCodecPayloadTypes(t *testing.T) {
	for _, c := range []Codec{CodecPCMU, CodecPCMA} {
		got, err := CodecForPayloadType(c.PayloadType())
		if err != nil || got != c {
			t.Errorf("%v: payload type %d maps back to %v, %v", c, c.PayloadType(), got, err)
		}
	}
	if _, err := CodecForPayloadType(18); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("G.729: %v, want ErrUnsupportedCodec", err)
	}
}

func TestMixSaturates(t *testing.T) {
	var a, b, c, dst Frame
	var acc [FrameSamples]int32
	for i := range a {
		a[i], b[i], c[i] = 30000, 10000, -30000
	}
	a[1], b[1] = -30000, -10000
	add2(&dst, &a, &b)
	if dst[0] != 32767 || dst[1] != -32768 {
		t.Errorf("add2 = %d, %d; want 32767, -32768", dst[0], dst[1])
	}
	accumulate(&acc, &a)
	accumulate(&acc, &b)
	accumulate(&acc, &c)
	saturate(&dst, &acc)
	if dst[0] != 10000 || dst[1] != -32768 {
		t.Errorf("3-way sum = %d, %d; want 10000, -32768", dst[0], dst[1])
	}
}
