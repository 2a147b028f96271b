package rtpengine

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// measure waits for 700 ms of audio on every phone and returns, per phone,
// the start of a 400 ms window that skips the first 200 ms (a switch takes
// effect within a few frames).
func measure(phones ...*tonePhone) []int {
	from := make([]int, len(phones))
	for i, p := range phones {
		from[i] = p.samples()
	}
	for i, p := range phones {
		p.waitSamples(from[i] + 700*8)
		from[i] += 200 * 8
	}
	return from
}

const win = 400 * 8

func TestSupervisionModes(t *testing.T) { eachSendMode(t, testSupervisionModes) }

func testSupervisionModes(t *testing.T, mode func(*Config)) {
	e := testEngine(t, mode, nil)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	sup := newTonePhone(t, mixer.CodecPCMA, 1250)
	s := toneCall(t, e, cust, agent)

	// Relay: each hears the other.
	f := measure(cust, agent)
	cust.heard("relay, customer", 950, f[0], win)
	agent.heard("relay, agent", 700, f[1], win)
	if s.Mixed() {
		t.Fatal("mixed before any supervisor")
	}

	l := supervisor(t, s, sup, nil)
	if l.ID() < 2 {
		t.Fatalf("leg id %d", l.ID())
	}
	// Not attached yet: the supervisor gets nothing.
	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	if !s.Mixed() || e.Stats().MixedSessions != 1 {
		t.Fatal("not mixed after Attach")
	}
	f = measure(cust, agent, sup)
	cust.heard("listen, customer hears agent", 950, f[0], win)
	cust.absent("listen, customer hears supervisor", 1250, f[0], win)
	cust.absent("listen, customer hears itself", 700, f[0], win)
	agent.heard("listen, agent hears customer", 700, f[1], win)
	agent.absent("listen, agent hears supervisor", 1250, f[1], win)
	sup.heard("listen, supervisor hears customer", 700, f[2], win)
	sup.heard("listen, supervisor hears agent", 950, f[2], win)
	sup.absent("listen, supervisor hears itself", 1250, f[2], win)
	if st := e.Stats(); st.RTPPacketsTo[Supervisor] == 0 || st.RTPPacketsTo[Caller] == 0 || st.RTPPacketsTo[Callee] == 0 {
		t.Fatalf("sent by party while listening: %v", st.RTPPacketsTo)
	}

	if err := l.Attach(mixer.ModeWhisper); err != nil {
		t.Fatal(err)
	}
	f = measure(cust, agent, sup)
	agent.heard("whisper, agent hears supervisor", 1250, f[1], win)
	agent.heard("whisper, agent hears customer", 700, f[1], win)
	cust.absent("whisper, customer hears supervisor", 1250, f[0], win)
	cust.heard("whisper, customer hears agent", 950, f[0], win)

	if err := l.Attach(mixer.ModeBarge); err != nil {
		t.Fatal(err)
	}
	f = measure(cust, agent, sup)
	cust.heard("barge, customer hears supervisor", 1250, f[0], win)
	cust.heard("barge, customer hears agent", 950, f[0], win)
	agent.heard("barge, agent hears supervisor", 1250, f[1], win)
	sup.heard("barge, supervisor hears customer", 700, f[2], win)

	if err := l.Attach(mixer.ModeIntercept); err != nil {
		t.Fatal(err)
	}
	f = measure(cust, agent, sup)
	cust.heard("intercept, customer hears supervisor", 1250, f[0], win)
	cust.absent("intercept, customer hears agent", 950, f[0], win)
	agent.absent("intercept, agent hears customer", 700, f[1], win)
	sup.heard("intercept, supervisor hears customer", 700, f[2], win)
	sup.absent("intercept, supervisor hears agent", 950, f[2], win)

	oldAgentPort := earshotRTP(s, 1)
	if err := l.Promote(); err != nil {
		t.Fatal(err)
	}
	if got := earshotRTP(s, 1); got == oldAgentPort {
		t.Fatal("leg 1 still on the old callee's port after Promote")
	}
	// The supervisor's phone is PCMA, the customer's PCMU: still mixed.
	if !s.Mixed() {
		t.Fatal("Promote with different codecs left the mix")
	}
	f = measure(cust, sup)
	cust.heard("promoted, customer hears supervisor", 1250, f[0], win)
	sup.heard("promoted, supervisor hears customer", 700, f[1], win)
	st := e.Stats()
	if st.PortsInUse != 4 {
		t.Fatalf("%d ports in use after Promote, want 4 (the old callee's released)", st.PortsInUse)
	}
	// The promoted supervisor is the callee now: what it hears counts as
	// sent to the callee, no longer to a supervisor.
	measure(cust, sup)
	if st2 := e.Stats(); st2.RTPPacketsTo[Supervisor] != st.RTPPacketsTo[Supervisor] || st2.RTPPacketsTo[Callee] <= st.RTPPacketsTo[Callee] {
		t.Fatalf("sent by party after Promote: %v, then %v", st.RTPPacketsTo, st2.RTPPacketsTo)
	}
	if err := l.Attach(mixer.ModeBarge); !errors.Is(err, ErrPromoted) {
		t.Fatalf("Attach after Promote: %v", err)
	}

	// The customer re-INVITEs: the offer goes out on the promoted leg.
	offer, err := s.Offer(0, cust.sdp())
	if err != nil {
		t.Fatal(err)
	}
	if got := sdpPort(t, offer); got != int(earshotRTP(s, 1).Port()) {
		t.Fatalf("re-offer carries port %d, want the promoted leg's %d", got, earshotRTP(s, 1).Port())
	}
	if s.Snapshot().Legs[1].ID != l.ID() {
		t.Fatalf("snapshot leg 1 is %d, want %d", s.Snapshot().Legs[1].ID, l.ID())
	}
}

// A PCMU supervisor that intercepts and is promoted: the session stays
// mixed (the promoted leg keeps its jitter buffer, customer ↔ supervisor),
// and the customer's stream has no gap and no silence across the intercept
// (the e2e supervision test covers the key press that asks for it).
func TestPromoteStaysMixedWithoutGap(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	sup := newTonePhone(t, mixer.CodecPCMU, 1250)
	s := toneCall(t, e, cust, agent)
	cust.listenFor(300 * time.Millisecond)
	l := supervisor(t, s, sup, nil)
	if err := l.Attach(mixer.ModeIntercept); err != nil {
		t.Fatal(err)
	}
	measure(cust)
	before := l.l.mixLeg.Load()
	if err := l.Promote(); err != nil {
		t.Fatal(err)
	}
	if !s.Mixed() {
		t.Fatal("the call left the mix at the intercept")
	}
	if after := l.l.mixLeg.Load(); after == nil || after != before {
		t.Fatal("Promote restarted the promoted leg's mixer leg (and its jitter buffer)")
	}
	f := measure(cust, sup)
	cust.heard("after promote, customer hears supervisor", 1250, f[0], win)
	cust.absent("after promote, customer hears old agent", 950, f[0], win)
	sup.heard("after promote, supervisor hears customer", 700, f[1], win)
	checkStream(t, "customer", cust)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.Snapshot().Legs[1].ID; got != l.ID() {
		t.Fatalf("Close on a promoted leg removed it: leg 1 is %d", got)
	}
}

func TestAttachErrors(t *testing.T) {
	e := testEngine(t, nil, nil)
	s, err := e.NewSession("attach-errors", nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.NewLeg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Attach(mixer.ModeListen); !errors.Is(err, ErrNotNegotiated) {
		t.Fatalf("Attach before SDP: %v", err)
	}
	sup := newTonePhone(t, mixer.CodecPCMU, 1250)
	if _, err := l.AnswerOffer(sup.sdp()); err != nil {
		t.Fatal(err)
	}
	if err := l.Attach(mixer.ModeListen); !errors.Is(err, ErrNotMixable) {
		t.Fatalf("Attach before the call has a codec: %v", err)
	}
	// A G.722 call cannot be supervised: 488.
	if _, err := s.Offer(0, []byte("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, []byte("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 9\r\n")); err != nil {
		t.Fatal(err)
	}
	err = l.Attach(mixer.ModeListen)
	var st interface{ SIPStatus() int }
	if !errors.Is(err, ErrNotMixable) || !errors.As(err, &st) || st.SIPStatus() != 488 {
		t.Fatalf("Attach on a G.722 call: %v", err)
	}
	if err := l.Attach(mixer.ModeNone); !errors.Is(err, ErrBadMode) {
		t.Fatalf("Attach with no mode: %v", err)
	}
	if err := s.Cue(0, CueBeep); !errors.Is(err, ErrNotMixed) {
		t.Fatalf("Cue on a relayed call: %v", err)
	}
	if _, err := l.AnswerOffer([]byte("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9 101\r\n")); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("supervisor offering G.722 only: %v", err)
	}
	l.Close()
	l.Close()
	if _, err := l.Offer(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Offer on a closed leg: %v", err)
	}
}

// The mix path allocates nothing per packet or per frame.
func TestMixPathNoAllocs(t *testing.T) {
	s, a, cust := mixedSession(t)
	pkt := rtpPacket(t, 0, 1, 160, 5, make([]byte, 160))
	src := addrOf(a.rtp)
	s.onRTP(cust, pkt, src, nil) // latches: one allocation per SDP
	var seq uint16 = 1
	if n := testing.AllocsPerRun(200, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		s.onRTP(cust, pkt, src, nil)
	}); n != 0 {
		t.Errorf("mix push path: %v allocs per packet", n)
	}
	// The frame buffers belong to the mixer worker: stop the workers
	// before playing worker here.
	s.eng.mixer.Close()
	payload := make([]byte, 160)
	agent := s.pair.Load()[1]
	agent.cueReq.Store(1<<8 | uint64(CueBeep))
	if n := testing.AllocsPerRun(200, func() { s.sendFrame(agent, payload) }); n != 0 {
		t.Errorf("sink write path: %v allocs per frame", n)
	}
}
