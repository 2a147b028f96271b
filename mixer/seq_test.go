package mixer

import (
	"testing"
	"time"
)

func TestSeqUnwrapper(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []uint16
		want []int64
	}{
		{"forward", []uint16{10, 11, 12}, []int64{10, 11, 12}},
		{"wrap forward", []uint16{65534, 65535, 0, 1}, []int64{65534, 65535, 65536, 65537}},
		{"reordered across the wrap", []uint16{65535, 1, 0, 2}, []int64{65535, 65537, 65536, 65538}},
		{"backward", []uint16{100, 99, 98}, []int64{100, 99, 98}},
		{"backward across zero", []uint16{1, 0, 65535}, []int64{1, 0, -1}},
		{"half-space step reads as backward", []uint16{0, 32768}, []int64{0, -32768}},
		{"just under half forward", []uint16{0, 32767}, []int64{0, 32767}},
		{"many wraps", []uint16{0, 20000, 40000, 60000, 14464}, []int64{0, 20000, 40000, 60000, 80000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var u seqUnwrapper
			for i, s := range tc.in {
				if p := u.peek(s); p != tc.want[i] {
					t.Errorf("peek(%d) = %d, want %d", s, p, tc.want[i])
				}
				if got := u.unwrap(s); got != tc.want[i] {
					t.Errorf("unwrap(%d) = %d, want %d", s, got, tc.want[i])
				}
			}
			u.reset()
			if got := u.unwrap(7); got != 7 {
				t.Errorf("after reset unwrap(7) = %d, want 7", got)
			}
		})
	}
}

func TestJitterEstimatorRFC3550(t *testing.T) {
	var e jitterEstimator
	// Packets every 20 ms, alternately 0 and 10 ms late: |D| is 80 samples
	// each time, so J converges to 80.
	for i := range 400 {
		at := epoch.Add(time.Duration(i) * FrameDuration)
		if i%2 == 1 {
			at = at.Add(10 * time.Millisecond)
		}
		e.update(uint32(i*FrameSamples), at)
	}
	if j := e.samples(); j < 78 || j > 80 {
		t.Errorf("J = %d samples, want ~80", j)
	}
	// A timestamp jump does not move it.
	e.update(123456789, epoch.Add(time.Duration(400)*FrameDuration))
	if j := e.samples(); j < 78 || j > 80 {
		t.Errorf("after a timestamp jump J = %d samples, want still ~80", j)
	}
}
