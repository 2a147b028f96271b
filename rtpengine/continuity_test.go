package rtpengine

import (
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// checkStream checks what a phone received over the whole test: one SSRC,
// sequence numbers +1 and timestamps +160 (20 ms) from audio packet to
// audio packet, also across every hand-over, no arrival gap long enough to hear, and no silence gap in the
// decoded audio after the tone first arrived.
func checkStream(t *testing.T, name string, p *tonePhone) {
	t.Helper()
	pkts := p.packets()
	if len(pkts) < 50 {
		t.Fatalf("%s: only %d packets", name, len(pkts))
	}
	first, audio := pkts[0], 0
	for i, cur := range pkts[1:] {
		prev := pkts[i]
		if cur.h.SSRC != first.h.SSRC {
			t.Fatalf("%s: packet %d has SSRC %x, want %x", name, i+1, cur.h.SSRC, first.h.SSRC)
		}
		if cur.h.SequenceNumber != prev.h.SequenceNumber+1 {
			t.Fatalf("%s: packet %d has seq %d after %d", name, i+1, cur.h.SequenceNumber, prev.h.SequenceNumber)
		}
		if cur.h.PayloadType == 101 || prev.h.PayloadType == 101 {
			continue // an event keeps its start timestamp
		}
		audio++
		dts := time.Duration(int32(cur.h.Timestamp-prev.h.Timestamp)) * time.Second / 8000
		dt := cur.arrival.Sub(prev.arrival)
		if dts != 20*time.Millisecond {
			t.Errorf("%s: packet %d: timestamp +%v (want +20ms, +160) after %v of wall time", name, i+1, dts, dt)
		}
		if dt > 100*time.Millisecond {
			t.Errorf("%s: packet %d arrived %v after the previous one", name, i+1, dt)
		}
	}
	last := pkts[len(pkts)-1]
	span := last.arrival.Sub(first.arrival)
	media := time.Duration(last.h.Timestamp-first.h.Timestamp) * time.Second / 8000
	if d := media - span; d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Errorf("%s: %v of media timestamps over %v of wall time", name, media, span)
	}
	// Silence: the longest run of near-zero samples once the tone is there.
	p.mu.Lock()
	pcm := p.pcm[8*100:]
	p.mu.Unlock()
	run, longest := 0, 0
	for _, v := range pcm {
		if v > -200 && v < 200 {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if longest > 8*30 {
		t.Errorf("%s: %d ms of silence in the audio", name, longest/8)
	}
}

// The customer's and the agent's streams stay one continuous stream across
// relay → mix → relay → mix → relay, and a telephone-event from the customer
// reaches the agent while mixed.
func TestSwitchContinuity(t *testing.T) { eachSendMode(t, testSwitchContinuity) }

func testSwitchContinuity(t *testing.T, mode func(*Config)) {
	e := testEngine(t, mode, nil)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	s := toneCall(t, e, cust, agent)
	cust.listenFor(300 * time.Millisecond)
	agent.listenFor(300 * time.Millisecond)
	for round := range 2 {
		sup := newTonePhone(t, mixer.CodecPCMA, 1250)
		l := supervisor(t, s, sup, nil)
		// Barge: a listener would leave both streams to the relay
		// (TestListenBypass).
		if err := l.Attach(mixer.ModeBarge); err != nil {
			t.Fatal(err)
		}
		f := measure(cust, agent, sup)
		agent.heard("mixed, agent hears customer", 700, f[1], win)
		if round == 0 {
			// A key press from the customer goes to the agent between
			// the mixer's frames.
			for i := range 3 {
				cust.event(5, i == 2, uint16(160*(i+1)), 777000)
			}
			deadline := time.Now().Add(rxTimeout)
			for n := 0; n == 0; {
				for _, p := range agent.packets() {
					if p.h.PayloadType == 101 {
						n++
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("the agent never received the customer's telephone-event")
				}
				agent.listenFor(20 * time.Millisecond)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if s.Mixed() {
			t.Fatal("still mixed after the last supervisor left")
		}
		f = measure(cust, agent)
		agent.heard("back on relay, agent hears customer", 700, f[1], win)
		cust.heard("back on relay, customer hears agent", 950, f[0], win)
	}
	checkStream(t, "customer", cust)
	checkStream(t, "agent", agent)
	if n := e.Stats().MixerFrames; n == 0 {
		t.Fatal("no mixer frames counted")
	}
}
