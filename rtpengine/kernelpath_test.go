package rtpengine

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/rtpengine/kernel"
)

// kernelEngine starts an engine with the in-kernel relay on. Where this
// process may not load BPF programs it says so and returns an engine
// without it (inKernel false): the test's assertions then run on the
// userspace relay.
func kernelEngine(t *testing.T) (e *Engine, inKernel bool) {
	t.Helper()
	base := 20000 + 2*rand.IntN(5000)
	e, err := newEngine(Config{BindAddr: loopback, PortMin: base, PortMax: base + 199, KernelRelay: KernelOn}, nil)
	if errors.Is(err, kernel.ErrUnsupported) {
		t.Logf("in-kernel relay unavailable here (%v): these assertions run on the userspace relay", err)
		return testEngine(t, nil, nil), false
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, true
}

// TestKernelRelay carries a call through the in-kernel relay: both ways
// with continuous streams, a foreign source dropped, a telephone-event
// through userspace and back, a supervisor's hand-over to the mixer and
// back, and counters that match what the phones received.
func TestKernelRelay(t *testing.T) {
	e, inKernel := kernelEngine(t)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	s := toneCall(t, e, cust, agent)
	streams := func(n int) {
		t.Helper()
		if inKernel {
			waitFor(t, func() bool { return e.Stats().Kernel.Streams == n })
		}
	}
	// userspace is what earshot relayed itself: all RTP sent but the
	// kernel's.
	userspace := func() uint64 { st := e.Stats(); return st.RTPPackets - st.Kernel.Packets }

	// After a second of calm both streams are the kernel's, and the
	// process relays nothing more.
	streams(2)
	f := measure(cust, agent)
	cust.heard("kernel relay, customer hears agent", 950, f[0], win)
	agent.heard("kernel relay, agent hears customer", 700, f[1], win)
	if inKernel {
		before := userspace()
		got := agent.samples()
		agent.listenFor(500 * time.Millisecond)
		if n := userspace() - before; n != 0 {
			t.Errorf("userspace relayed %d packets while the kernel had both streams", n)
		}
		if e.Stats().Kernel.Packets == 0 || agent.samples() == got {
			t.Error("nothing forwarded in the kernel")
		}
	}

	// A foreign source is not forwarded: the kernel leaves it to the
	// socket, where it is dropped and counted; the streams stay the
	// kernel's.
	stranger := newPhone(t)
	drops := e.Stats().Dropped.Source
	for i := range 5 {
		send(t, stranger.rtp, earshotRTP(s, 0), rtpPacket(t, 0, uint16(9000+i), uint32(9000+i)*160, cust.ssrc, make([]byte, 160)))
	}
	waitFor(t, func() bool { return e.Stats().Dropped.Source == drops+5 })
	if inKernel && e.Stats().Kernel.Streams != 2 {
		t.Errorf("a foreign source took a stream from the kernel: %d streams there", e.Stats().Kernel.Streams)
	}

	// A telephone-event goes through userspace (the stream comes back
	// to it) and reaches the agent; a second later the kernel has the
	// stream again.
	for i := range 3 {
		cust.event(5, i == 2, uint16(160*(i+1)), 4242)
	}
	waitFor(t, func() bool {
		for _, p := range agent.packets() {
			if p.h.PayloadType == 101 {
				return true
			}
		}
		return false
	})
	if inKernel && e.Stats().Kernel.Returns == 0 {
		t.Error("the telephone-event did not bring the stream back to userspace")
	}
	streams(2)

	// A supervisor: both streams come back to userspace at Attach and the
	// mixer feeds them; when it leaves the kernel takes them again.
	sup := newTonePhone(t, mixer.CodecPCMU, 1250)
	l := supervisor(t, s, sup, nil)
	if err := l.Attach(mixer.ModeBarge); err != nil {
		t.Fatal(err)
	}
	if inKernel && e.Stats().Kernel.Streams != 0 {
		t.Fatalf("%d streams still in the kernel after a supervisor attached", e.Stats().Kernel.Streams)
	}
	f = measure(cust, agent, sup)
	cust.heard("barge, customer hears supervisor", 1250, f[0], win)
	agent.heard("barge, agent hears supervisor", 1250, f[1], win)
	sup.heard("barge, supervisor hears customer", 700, f[2], win)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	streams(2)
	f = measure(cust, agent)
	cust.heard("kernel again, customer hears agent", 950, f[0], win)
	cust.absent("kernel again, customer hears the supervisor who left", 1250, f[0], win)
	agent.heard("kernel again, agent hears customer", 700, f[1], win)

	// Counters: every packet the phones received is counted once, the
	// kernel's included.
	cust.hush()
	agent.hush()
	time.Sleep(200 * time.Millisecond)
	st := e.Stats()
	if got, want := st.RTPPacketsTo[Caller], uint64(len(cust.packets())); got != want {
		t.Errorf("RTP counted to the caller %d, the caller received %d", got, want)
	}
	if got, want := st.RTPPacketsTo[Callee], uint64(len(agent.packets())); got != want {
		t.Errorf("RTP counted to the callee %d, the callee received %d", got, want)
	}
	if inKernel {
		if st.Kernel.Packets == 0 || st.Kernel.Bytes != 172*st.Kernel.Packets {
			t.Errorf("kernel counters: %d packets, %d bytes (want 172 per packet: RTP header and 160 bytes of G.711)", st.Kernel.Packets, st.Kernel.Bytes)
		}
		t.Logf("kernel: %d packets of %d relayed, %d hand-overs to the kernel, %d back", st.Kernel.Packets, st.RTPPackets, st.Kernel.Offloads, st.Kernel.Returns)
	}
	checkStream(t, "customer", cust)
	checkStream(t, "agent", agent)
	s.Close()
	if st := e.Stats(); st.Kernel.Streams != 0 {
		t.Errorf("%d streams in the kernel after the session closed", st.Kernel.Streams)
	}
}

// TestKernelTap: a listened call stays in the kernel. Both streams go to
// the kernel a second after a supervisor starts listening, with a copy of
// each party's audio for the supervisor's mix (the taps ring): everyone
// hears whom the hear-matrix says, the process relays nothing and the
// mixer sends only to the supervisor. The listener's own audio, which
// nobody hears, is dropped in the kernel, its key presses still arrive.
// Whisper takes the agent's stream to the mixer (the customer's stays) and
// the supervisor's audio back to it, barge both streams, listen again
// gives both back to the kernel; the supervisor leaving leaves them there.
// Both parties' streams stay strictly continuous, no copy is lost.
func TestKernelTap(t *testing.T) {
	e, inKernel := kernelEngine(t)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	sup := newTonePhone(t, mixer.CodecPCMA, 1250)
	s := toneCall(t, e, cust, agent)
	streams := func(step string, n int) {
		t.Helper()
		if !inKernel {
			return
		}
		deadline := time.Now().Add(rxTimeout)
		for e.Stats().Kernel.Streams != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d streams in the kernel, want %d", step, e.Stats().Kernel.Streams, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	streams("relayed", 2)
	if inKernel && (e.tapped.Load() != 0 || e.tapDrains.Load() != 0) {
		// Nothing is listened to yet: the taps reader must be asleep.
		t.Errorf("relayed: %d tapped legs, %d drains of the taps ring; want 0, 0", e.tapped.Load(), e.tapDrains.Load())
	}
	digits := make(chan byte, 4)
	l := supervisor(t, s, sup, func(d byte) { digits <- d })
	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	streams("listen", 2)
	if inKernel {
		waitFor(t, func() bool { return l.l.drop.on.Load() })
	}
	for i := range 3 {
		sup.event(7, i == 2, uint16(160*(i+1)), 31337)
	}
	select {
	case d := <-digits:
		if d != '7' {
			t.Errorf("the listener pressed 7, earshot heard %q", d)
		}
	case <-time.After(rxTimeout):
		t.Fatal("a listener's key press did not arrive")
	}
	before := e.Stats()
	f := measure(cust, agent, sup)
	after := e.Stats()
	cust.heard("listen, customer hears agent", 950, f[0], win)
	cust.absent("listen, customer hears supervisor", 1250, f[0], win)
	agent.heard("listen, agent hears customer", 700, f[1], win)
	agent.absent("listen, agent hears supervisor", 1250, f[1], win)
	sup.heard("listen, supervisor hears customer", 700, f[2], win)
	sup.heard("listen, supervisor hears agent", 950, f[2], win)
	sup.absent("listen, supervisor hears itself", 1250, f[2], win)
	frames := after.MixerFrames - before.MixerFrames
	toSup := after.RTPPacketsTo[Supervisor] - before.RTPPacketsTo[Supervisor]
	if frames == 0 || frames != toSup {
		t.Errorf("listen: %d mixer frames, %d packets to the supervisor; want equal and > 0", frames, toSup)
	}
	if inKernel {
		relayed := (after.RTPPackets - after.Kernel.Packets) - (before.RTPPackets - before.Kernel.Packets)
		if relayed != frames {
			t.Errorf("listen: the process sent %d packets, %d of them mixer frames; want only the frames", relayed, frames)
		}
		if after.Kernel.Packets == before.Kernel.Packets {
			t.Error("listen: the kernel forwarded nothing")
		}
	}

	if err := l.Attach(mixer.ModeWhisper); err != nil {
		t.Fatal(err)
	}
	streams("whisper", 1) // the agent's packets to the customer
	if inKernel {
		if l.l.drop.on.Load() {
			t.Error("whisper: the supervisor's audio is still dropped in the kernel")
		}
		if n := e.Stats().Kernel.ListenerDropped; n == 0 {
			t.Error("listen: the kernel dropped none of the listener's audio")
		}
	}
	f = measure(cust, agent, sup)
	agent.heard("whisper, agent hears supervisor", 1250, f[1], win)
	agent.heard("whisper, agent hears customer", 700, f[1], win)
	cust.heard("whisper, customer hears agent", 950, f[0], win)
	cust.absent("whisper, customer hears supervisor", 1250, f[0], win)
	sup.heard("whisper, supervisor hears agent", 950, f[2], win)

	if err := l.Attach(mixer.ModeBarge); err != nil {
		t.Fatal(err)
	}
	streams("barge", 0)
	f = measure(cust, agent, sup)
	cust.heard("barge, customer hears supervisor", 1250, f[0], win)
	agent.heard("barge, agent hears supervisor", 1250, f[1], win)

	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	streams("listen again", 2)
	f = measure(cust, agent, sup)
	agent.heard("listen again, agent hears customer", 700, f[1], win)
	agent.absent("listen again, agent hears supervisor", 1250, f[1], win)
	sup.heard("listen again, supervisor hears customer", 700, f[2], win)
	sup.heard("listen again, supervisor hears agent", 950, f[2], win)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	streams("after the supervisor", 2)
	f = measure(cust, agent)
	cust.heard("relayed again, customer hears agent", 950, f[0], win)
	cust.absent("relayed again, customer hears the supervisor who left", 1250, f[0], win)
	checkStream(t, "customer", cust)
	checkStream(t, "agent", agent)
	if st := e.Stats(); st.Kernel.TapLost != 0 || st.Kernel.TapStray != 0 {
		t.Errorf("tap copies lost %d, for no leg %d; want none", st.Kernel.TapLost, st.Kernel.TapStray)
	}
	if inKernel {
		s.Close()
		if n := e.tapped.Load(); n != 0 {
			t.Errorf("%d tapped legs after the call ended, want 0 (the taps reader would keep polling)", n)
		}
	}
}

// TestKernelHandOverBehind: a receive loop that is behind its sockets
// when a stream reaches its second of calm still hands the stream to the
// kernel: it catches up on the packets queued on the socket
// (recvLoop.catchUp) instead of leaving the hand-over to a later round,
// which, for a loop that stays behind, would find a packet queued again.
// The loops are stalled for 1.5 s from the start of the call, so each
// stream's 50th packet is read with about 25 more queued behind it. Both
// streams stay strictly continuous (one SSRC, sequence +1, timestamp
// +160) across the stall, the catch-up reads and the hand-over.
func TestKernelHandOverBehind(t *testing.T) {
	e, inKernel := kernelEngine(t)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	toneCall(t, e, cust, agent)
	for _, lp := range e.recv.loops {
		lp.mu.Lock()
	}
	time.Sleep(1500 * time.Millisecond)
	for _, lp := range e.recv.loops {
		lp.mu.Unlock()
	}
	if inKernel {
		waitFor(t, func() bool { return e.Stats().Kernel.Streams == 2 })
		if e.recv.caughtUp() == 0 {
			t.Error("no packet read to catch up: the hand-over was not made while behind")
		}
		t.Logf("%d packets read to catch up, %d hand-overs", e.recv.caughtUp(), e.Stats().Kernel.Offloads)
	}
	f := measure(cust, agent)
	cust.heard("after the hand-over, customer hears agent", 950, f[0], win)
	agent.heard("after the hand-over, agent hears customer", 700, f[1], win)
	// Strict continuity, without checkStream's pacing: the stall itself
	// delivers 1.5 s of audio late, in a burst.
	checkContinuity(t, "customer", headersOf(cust.packets()))
	checkContinuity(t, "agent", headersOf(agent.packets()))
}
