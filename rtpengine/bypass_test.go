package rtpengine

import (
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// A listening supervisor leaves the call's two streams to the relay: the
// mixer makes frames for the supervisor alone. Whisper gives the agent the
// mix and leaves the customer relayed, barge mixes both, listen again
// neither; a cue to the agent is mixed in and the relay takes the agent's
// stream back once it has played. Who hears whom is checked at every step,
// and both parties' streams stay strictly continuous from the first
// packet to the last.
func TestListenBypass(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMU, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	sup := newTonePhone(t, mixer.CodecPCMA, 1250)
	s := toneCall(t, e, cust, agent)
	cust.listenFor(300 * time.Millisecond)
	agent.listenFor(300 * time.Millisecond)
	pair := s.pair.Load()
	// fed waits until the mixer sends on exactly the pair legs named.
	fed := func(step string, cm, am bool) {
		t.Helper()
		deadline := time.Now().Add(rxTimeout)
		for pair[0].out.mixing() != cm || pair[1].out.mixing() != am {
			if time.Now().After(deadline) {
				t.Fatalf("%s: mixer sends to customer %v, agent %v; want %v, %v",
					step, pair[0].out.mixing(), pair[1].out.mixing(), cm, am)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	l := supervisor(t, s, sup, nil)
	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	if !s.Mixed() {
		t.Fatal("not mixed with a supervisor attached")
	}
	fed("listen", false, false)
	before := e.Stats()
	f := measure(cust, agent, sup)
	after := e.Stats()
	cust.heard("listen, customer hears agent", 950, f[0], win)
	cust.absent("listen, customer hears supervisor", 1250, f[0], win)
	agent.heard("listen, agent hears customer", 700, f[1], win)
	agent.absent("listen, agent hears supervisor", 1250, f[1], win)
	sup.heard("listen, supervisor hears customer", 700, f[2], win)
	sup.heard("listen, supervisor hears agent", 950, f[2], win)
	// Every mixer frame went to the supervisor; the parties got packets,
	// all of them relayed.
	if pair[0].out.mixing() || pair[1].out.mixing() {
		t.Error("listen: the mixer took a party's stream")
	}
	frames := after.MixerFrames - before.MixerFrames
	toSup := after.RTPPacketsTo[Supervisor] - before.RTPPacketsTo[Supervisor]
	if frames == 0 || frames != toSup {
		t.Errorf("listen: %d mixer frames, %d packets to the supervisor; want equal and > 0", frames, toSup)
	}
	for _, p := range []Party{Caller, Callee} {
		if after.RTPPacketsTo[p] == before.RTPPacketsTo[p] {
			t.Errorf("listen: nothing sent to %v", p)
		}
	}

	if err := l.Attach(mixer.ModeWhisper); err != nil {
		t.Fatal(err)
	}
	fed("whisper", false, true)
	f = measure(cust, agent, sup)
	agent.heard("whisper, agent hears supervisor", 1250, f[1], win)
	agent.heard("whisper, agent hears customer", 700, f[1], win)
	cust.heard("whisper, customer hears agent", 950, f[0], win)
	cust.absent("whisper, customer hears supervisor", 1250, f[0], win)

	if err := l.Attach(mixer.ModeBarge); err != nil {
		t.Fatal(err)
	}
	fed("barge", true, true)
	f = measure(cust, agent, sup)
	cust.heard("barge, customer hears supervisor", 1250, f[0], win)
	agent.heard("barge, agent hears supervisor", 1250, f[1], win)

	if err := l.Attach(mixer.ModeListen); err != nil {
		t.Fatal(err)
	}
	fed("listen again", false, false)
	f = measure(cust, agent, sup)
	cust.absent("listen again, customer hears supervisor", 1250, f[0], win)
	agent.absent("listen again, agent hears supervisor", 1250, f[1], win)
	agent.heard("listen again, agent hears customer", 700, f[1], win)

	// A cue needs the mix: the agent's stream goes to the mixer for it
	// and comes back to the relay when it has played.
	from := agent.samples()
	if err := s.Cue(1, CueNotify); err != nil {
		t.Fatal(err)
	}
	fed("cue", false, true)
	fed("after the cue", false, false)
	agent.waitSamples(from + 8*800)
	if db := agent.maxPower(1900, from, agent.samples()-from, 8*60); db < heardDB {
		t.Errorf("the agent's cue under listen is at %.1f dBFS", db)
	}
	if db := cust.maxPower(1900, cust.samples()-8*800, 8*800, 8*60); db > absentDB {
		t.Errorf("the customer hears the agent's cue at %.1f dBFS", db)
	}
	f = measure(cust, agent)
	agent.heard("after the cue, agent hears customer", 700, f[1], win)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Mixed() {
		t.Fatal("still mixed after the supervisor left")
	}
	f = measure(cust, agent)
	cust.heard("relay, customer hears agent", 950, f[0], win)
	checkStream(t, "customer", cust)
	checkStream(t, "agent", agent)
}
