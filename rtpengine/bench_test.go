package rtpengine

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// BenchmarkRelayRewrite measures the per-packet work of the relay without
// sockets: validation and header rewriting of a 20 ms PCMU packet.
func BenchmarkRelayRewrite(b *testing.B) {
	o := newOutStream(1, 1, 1)
	rates := staticRates
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var seq uint16
	var now int64
	for b.Loop() {
		seq++
		now += 20e6
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
		binary.BigEndian.PutUint32(pkt[8:], 5) // the rewrite replaced it
		if !validRTP(pkt) {
			b.Fatal("invalid")
		}
		o.rewrite(pkt, now, &rates)
	}
}

// BenchmarkRelayLoopback sends packets through a session over loopback:
// phone A → earshot leg 0 → relay → earshot leg 1 → phone B, one packet in
// flight at a time, so ns/op is the round of two UDP hops plus the relay.
func BenchmarkRelayLoopback(b *testing.B) {
	for _, m := range []struct {
		name string
		mod  func(*Config)
	}{
		{"batched", func(c *Config) { c.IOUring = IOUringAuto }},
		{"each", func(c *Config) { c.IOUring = IOUringOff }},
		{"dedicated", func(c *Config) { c.IOUring, c.DedicatedReceive = IOUringAuto, true }},
	} {
		b.Run(m.name, func(b *testing.B) { benchRelayLoopback(b, m.mod) })
	}
}

// benchRelayLoopback is BenchmarkRelayLoopback with the sends batched
// (io_uring, where the kernel allows it) or one sendto each, and the
// receive loops shared or dedicated (Config.DedicatedReceive).
func benchRelayLoopback(b *testing.B, mod func(*Config)) {
	e := testEngine(b, mod, nil)
	a, bb := newPhone(b), newPhone(b)
	s, err := e.NewSession("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Answer(1, bb.sdp("")); err != nil {
		b.Fatal(err)
	}
	dst := earshotRTP(s, 0)
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	buf := make([]byte, 2048)
	// The first packet latches leg 0 (one allocation, once per SDP).
	roundTrip := func(seq uint16) {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		if _, err := a.rtp.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := bb.rtp.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var seq uint16
	for b.Loop() {
		seq++
		roundTrip(seq)
	}
}

// mixedSession is a call with one PCMU supervisor attached in barge mode
// and the hand-over from the relay done, for the mix-path benchmarks.
func mixedSession(b testing.TB) (*Session, *phone, *leg) {
	return supervisedSession(b, mixer.ModeBarge)
}

// supervisedSession is a call with one PCMU supervisor attached in mode.
// Unless the mode leaves the agent's stream to the relay (listen), it
// returns once the mixer has taken that stream over.
func supervisedSession(b testing.TB, mode mixer.Mode) (*Session, *phone, *leg) {
	e := testEngine(b, nil, nil)
	a, bb, sup := newPhone(b), newPhone(b), newPhone(b)
	s, err := e.NewSession("bench-mix", nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Answer(1, bb.sdp("")); err != nil {
		b.Fatal(err)
	}
	l, err := s.NewLeg(nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.AnswerOffer(sup.sdp("")); err != nil {
		b.Fatal(err)
	}
	if err := l.Attach(mode); err != nil {
		b.Fatal(err)
	}
	if mode == mixer.ModeListen {
		return s, a, s.pair.Load()[0]
	}
	// The sink takes the agent's stream over once the mixer has primed
	// (a few frames); until then the relay still sends to it.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !s.pair.Load()[1].out.mixing() {
		if time.Now().After(deadline) {
			b.Fatal("the mixer never took the agent's stream over")
		}
		<-tick.C
	}
	return s, a, s.pair.Load()[0]
}

// BenchmarkMixPush is the reader's per-packet work on the mix path without
// the socket read: validation, latching, the hand-off to the mixer's inbox,
// and the refused relay. The mixer drains the inbox only every 20 ms, so
// most pushes here find it full and are counted as dropped; the copy into a
// free slot is measured by BenchmarkMixPushDrained.
func BenchmarkMixPush(b *testing.B) {
	s, a, cust := mixedSession(b)
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	src := addrOf(a.rtp)
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		s.onRTP(cust, pkt, src, nil)
	}
}

// BenchmarkListenPush is the reader's per-packet work for the customer's
// audio while a supervisor listens: the hand-off to the mixer (for the
// supervisor's mix) and the relay to the agent, whose stream the mixer
// leaves to the relay (Session.markBypass).
func BenchmarkListenPush(b *testing.B) {
	s, a, cust := supervisedSession(b, mixer.ModeListen)
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	src := addrOf(a.rtp)
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
		s.onRTP(cust, pkt, src, nil)
	}
}

// BenchmarkMixPushDrained measures mixer.Leg.Push into an empty inbox (a
// standalone mixer session ticked every 16 packets, outside the timer).
func BenchmarkMixPushDrained(b *testing.B) {
	ms, err := mixer.NewSession(mixer.SessionConfig{Sink: discardSink{}})
	if err != nil {
		b.Fatal(err)
	}
	ml, err := ms.AddLeg(mixer.LegConfig{ID: 0, Role: mixer.RoleCustomer, Codec: mixer.CodecPCMU})
	if err != nil {
		b.Fatal(err)
	}
	pkt := rtpPacket(b, 0, 1, 160, 5, make([]byte, 160))
	now := time.Now()
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		if seq%16 == 0 {
			b.StopTimer()
			ms.Tick(now)
			b.StartTimer()
		}
		h := readRTP(pkt)
		if !ml.Push(rtpPayload(pkt), seq, h.ts, h.ssrc, false, now) {
			b.Fatal("inbox full")
		}
	}
}

type discardSink struct{}

func (discardSink) WriteFrame(mixer.LegID, []byte) {}

// BenchmarkSinkWrite is the mixer sink's per-frame work for one leg: build
// the RTP header, map it onto the leg's stream and send it over loopback.
func BenchmarkSinkWrite(b *testing.B) {
	s, _, cust := mixedSession(b)
	s.eng.mixer.Close() // the benchmark plays the worker, which owns the frame buffers
	payload := make([]byte, 160)
	cust.primeLeft = 0
	b.ReportAllocs()
	for b.Loop() {
		s.sendFrame(cust, payload)
	}
}

// BenchmarkSinkWriteCue is BenchmarkSinkWrite with a cue overlaid on every
// frame (the cue restarts whenever it has played out).
func BenchmarkSinkWriteCue(b *testing.B) {
	s, _, cust := mixedSession(b)
	s.eng.mixer.Close() // the benchmark plays the worker, which owns the frame buffers
	payload := make([]byte, 160)
	cust.primeLeft = 0
	b.ReportAllocs()
	var gen uint64
	for b.Loop() {
		if cust.cue.pos >= len(cust.cue.pcm) {
			gen++
			cust.cueReq.Store(gen<<8 | uint64(CueError))
		}
		s.sendFrame(cust, payload)
	}
}

// BenchmarkSwitch is one relay → mix → relay round: a supervisor attaches
// (mixer session created, legs added) and detaches (mixer closed, streams
// handed back). It is control-path work, once per supervision, not per
// packet; its allocations are the mixer session and legs.
func BenchmarkSwitch(b *testing.B) {
	e := testEngine(b, nil, nil)
	a, bb, sup := newPhone(b), newPhone(b), newPhone(b)
	s, err := e.NewSession("bench-switch", nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Offer(0, a.sdp("")); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Answer(1, bb.sdp("")); err != nil {
		b.Fatal(err)
	}
	l, err := s.NewLeg(nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.AnswerOffer(sup.sdp("")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Attach(mixer.ModeListen); err != nil {
			b.Fatal(err)
		}
		s.mu.Lock()
		l.l.attached = false
		err := s.reconcile()
		s.mu.Unlock()
		if err != nil || s.Mixed() {
			b.Fatal("did not return to relay", err)
		}
	}
}
