package rtpengine

import (
	"strings"
	"testing"
	"time"
)

// eachSendMode runs test with the mixer's frames sent in batches (io_uring,
// where this kernel allows it: the subtest says which path ran) and with
// one sendto each, so both carry the same assertions.
func eachSendMode(t *testing.T, test func(*testing.T, func(*Config))) {
	t.Run("batched", func(t *testing.T) {
		mode := func(c *Config) { c.IOUring = IOUringAuto }
		if st := testEngine(t, mode, nil).Stats().IOUring; !st.Enabled {
			t.Logf("io_uring unavailable (%s): this run sends each frame on its own", st.Unavailable)
		}
		test(t, mode)
	})
	t.Run("each", func(t *testing.T) {
		test(t, func(c *Config) { c.IOUring = IOUringOff })
	})
}

// IOUringAuto batches where it can and says why not where it cannot;
// IOUringOff never batches; IOUringOn refuses to start without it.
func TestIOUringModes(t *testing.T) {
	if _, err := newEngine(Config{BindAddr: loopback, PortMin: 31000, PortMax: 31099, IOUring: 7}, nil); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
	auto := testEngine(t, nil, nil).Stats().IOUring
	if auto.Enabled == (auto.Unavailable != "") {
		t.Fatalf("auto: %+v", auto)
	}
	if off := testEngine(t, func(c *Config) { c.IOUring = IOUringOff }, nil).Stats().IOUring; off.Enabled || off.Unavailable != "" {
		t.Fatalf("off: %+v", off)
	}
	e, err := newEngine(Config{BindAddr: loopback, PortMin: 31000, PortMax: 31099, IOUring: IOUringOn}, nil)
	if auto.Enabled {
		if err != nil {
			t.Fatalf("on: %v", err)
		}
		if !e.Stats().IOUring.Enabled {
			t.Fatal("on: not enabled")
		}
		e.Close()
		return
	}
	t.Logf("io_uring unavailable here: %s", auto.Unavailable)
	if err == nil || !strings.Contains(err.Error(), "io_uring") {
		e.Close()
		t.Fatalf("on without io_uring: err %v", err)
	}
}

// A telephone-event for a mixed stream whose last frame still waits in the
// worker's batch waits for that frame to be sent, then takes the next
// sequence number: it never overtakes the frame.
func TestEventWaitsForBatchedFrame(t *testing.T) {
	o := newOutStream(0xCAFE, 1000, 50000)
	rates := staticRates
	now := int64(1e9)
	frame := rtpPacket(t, 0, 7, 900, 1, make([]byte, 160))
	if !o.mix(frame, now, &rates, true) {
		t.Fatal("the mixer could not claim the stream")
	}
	o.inBatch.Store(true) // as sendBatch.add does, under the lock
	o.sent()
	frameSeq := header(t, frame).SequenceNumber

	done := make(chan uint16)
	go func() {
		ev := rtpPacket(t, 101, 40, 5000, 2, []byte{5, 0, 0, 160})
		if !o.event(ev, now+int64(time.Millisecond), &rates) {
			t.Error("event refused on a mixed stream")
		}
		o.sent()
		done <- header(t, ev).SequenceNumber
	}()
	select {
	case <-done:
		t.Fatal("the event went out while the frame before it was still queued")
	case <-time.After(20 * time.Millisecond):
	}
	o.inBatch.Store(false) // the worker's flush
	select {
	case seq := <-done:
		if seq != frameSeq+1 {
			t.Fatalf("event seq %d after frame seq %d", seq, frameSeq)
		}
	case <-time.After(time.Second):
		t.Fatal("the event did not go out after the frame was sent")
	}
}
