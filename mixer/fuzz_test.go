package mixer

import (
	"testing"
	"time"
)

// FuzzJitterBuffer drives a jitter buffer with an arbitrary script of pushes
// and pops: arbitrary sequence numbers, timestamps, SSRCs, marker bits,
// payload lengths and arrival times. It must never panic, and every pop must
// produce exactly one frame (accounted once in the stats).
//
// Script format, one op after another: a byte b; if b&1 is set it is a pop
// that advances the clock by b>>1 ms; otherwise a push of 9 more bytes:
// seq (2), ts (4), ssrc (1, few values to force changes), length (1),
// arrival delay (1, ms, can be earlier or later than the clock).
func FuzzJitterBuffer(f *testing.F) {
	f.Fuzz(func(t *testing.T, cfg byte, script []byte) {
		jcfg := JitterConfig{
			MinDepth: time.Duration(cfg&0x0f) * 10 * time.Millisecond,
			MaxDepth: time.Duration(cfg>>4) * 40 * time.Millisecond,
		}
		codec := CodecPCMU
		if cfg&0x80 != 0 {
			codec = CodecPCMA
		}
		jb := NewJitterBuffer(codec, jcfg)
		var payload [300]byte
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		now := epoch
		var out Frame
		pops := uint64(0)
		for len(script) > 0 {
			b := script[0]
			script = script[1:]
			if b&1 != 0 {
				now = now.Add(time.Duration(b>>1) * time.Millisecond)
				jb.Pop(now, &out)
				pops++
				if got := pops1(jb.Stats()); got != pops {
					t.Fatalf("after %d pops the stats account for %d", pops, got)
				}
				if d := jb.Depth(); d < 0 || d > ringSize {
					t.Fatalf("depth %d outside the ring", d)
				}
				if tg := jb.Target(); tg < jb.minFrames || tg > jb.maxFrames {
					t.Fatalf("target %d outside %d..%d", tg, jb.minFrames, jb.maxFrames)
				}
				continue
			}
			if len(script) < 9 {
				return
			}
			h := script[:9]
			script = script[9:]
			seq := uint16(h[0])<<8 | uint16(h[1])
			ts := uint32(h[2])<<24 | uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
			ssrc := uint32(h[6] & 3)
			marker := h[6]&4 != 0
			n := int(h[7]) + int(h[6]>>7)*44 // up to 299 bytes
			arrival := now.Add(time.Duration(int8(h[8])) * time.Millisecond)
			jb.Push(payload[:n], seq, ts, ssrc, marker, arrival)
		}
	})
}
