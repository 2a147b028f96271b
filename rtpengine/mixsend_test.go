package rtpengine

import (
	"net/netip"
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
	// The 20 ms this test waits must not race the wait's deadline when
	// the test itself is scheduled late (it failed so once, under the
	// race detector beside the other packages' tests).
	o.queuedWait = time.Minute
	rates := staticRates
	now := int64(1e9)
	frame := rtpPacket(t, 0, 7, 900, 1, make([]byte, 160))
	worker := new(sendBatch) // stands for the worker's batch
	if !o.mix(frame, now, &rates, true, worker) {
		t.Fatal("the mixer could not claim the stream")
	}
	o.queuedIn.Store(worker) // as sendBatch.add does, under the lock
	o.sent()
	frameSeq := header(t, frame).SequenceNumber

	done := make(chan uint16)
	go func() {
		ev := rtpPacket(t, 101, 40, 5000, 2, []byte{5, 0, 0, 160})
		if !o.event(ev, now+int64(time.Millisecond), &rates, nil) {
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
	o.queuedIn.CompareAndSwap(worker, nil) // the worker's flush
	select {
	case seq := <-done:
		if seq != frameSeq+1 {
			t.Fatalf("event seq %d after frame seq %d", seq, frameSeq)
		}
	case <-time.After(time.Second):
		t.Fatal("the event did not go out after the frame was sent")
	}
}

// A relayed packet the kernel refuses to send (port 0 on loopback:
// EINVAL) counts as a write error, not as relayed, also when the receive
// loop queued it in its batch and learnt of the failure only when sending
// the batch.
func TestRelayWriteErrorCountedEachWay(t *testing.T) {
	eachSendMode(t, func(t *testing.T, mode func(*Config)) {
		e := testEngine(t, mode, nil)
		a, b := newPhone(t), newPhone(t)
		s := call(t, e, a, b, nil)
		// First a packet both ways, so that both legs have latched.
		send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 160, 7, []byte("to b")))
		if got, _ := recv(t, b.rtp); string(got[12:]) != "to b" {
			t.Fatalf("callee got %q", got[12:])
		}
		before := e.Stats()
		s.pair.Load()[1].rtp.dest.Store(&peer{addr: netip.AddrPortFrom(loopback, 0), latched: true})
		send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 2, 320, 7, []byte("lost")))
		deadline := time.Now().Add(2 * time.Second)
		for e.Stats().Dropped.WriteError == before.Dropped.WriteError {
			if time.Now().After(deadline) {
				t.Fatal("the refused send was never counted")
			}
			time.Sleep(time.Millisecond)
		}
		st := e.Stats()
		if st.Dropped.WriteError != before.Dropped.WriteError+1 || st.RTPPackets != before.RTPPackets || st.BytesRelayed != before.BytesRelayed {
			t.Fatalf("after a refused send: %+v, before: %+v", st, before)
		}
		t.Logf("relay sends batched: %v", st.IOUring.Relay)
	})
}
