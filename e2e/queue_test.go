package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
	"github.com/earshot/earshot/mixer/audio"
)

// Tones that stand for the queue's prompts in these tests, so that who
// hears which announcement is asserted on decoded audio: each prompt file
// is replaced by a tone of its own (clear of the parties' tones, the
// music's and each other's).
const (
	toneWelcome  = 1250.0
	tonePosition = 1350.0
	toneNum1     = 1650.0
	toneNum2     = 1750.0
	toneCallback = 1950.0
)

// queuePrompts writes the test's prompt files into a directory.
func queuePrompts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, hz := range map[string]float64{
		"queue-welcome": toneWelcome, "queue-position": tonePosition,
		"num-1": toneNum1, "num-2": toneNum2, "queue-callback": toneCallback, "queue-in-line": 0,
	} {
		pcm := make([]int16, audio.SampleRate/2) // 500 ms
		for i := range pcm {
			pcm[i] = int16(0.25 * 32767 * math.Sin(2*math.Pi*hz*float64(i)/audio.SampleRate))
		}
		if err := os.WriteFile(filepath.Join(dir, name+".wav"), audio.EncodeWAV(pcm), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// queueConfig is the demo config with the test prompts, position
// announcements only, and the given edits.
func queueConfig(t *testing.T) *config.Config {
	cfg := testConfig(t)
	q := &cfg.Tenants[0].Groups[0].Queue
	q.Prompts = queuePrompts(t)
	q.Announce = config.AnnouncePosition
	return cfg
}

// hearsMusic waits until s hears the built-in music: one of its tones
// well above the noise floor, and none of the parties' tones.
func hearsMusic(t *testing.T, who string, s *phone.Session) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var best float64
	var party string
	for time.Now().Before(deadline) {
		best, party = math.Inf(-1), ""
		for _, hz := range audio.MusicTones() {
			best = max(best, s.RTP.Power(hz))
		}
		for _, hz := range []float64{toneAgent, toneOther, toneCustomer} {
			if p := s.RTP.Power(hz); p > absent {
				party = fmt.Sprintf("%.0f Hz at %.1f dBFS", hz, p)
			}
		}
		if best >= heard && party == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not hear the music alone: best music tone %.1f dBFS, a party's tone: %q", who, best, party)
}

// strictContinuity: everything s received from earshot is one stream —
// one SSRC, sequence +1 and timestamp +160 from packet to packet.
func strictContinuity(t *testing.T, who string, s *phone.Session) {
	t.Helper()
	ssrcs, gaps := s.RTP.Continuity()
	if len(ssrcs) != 1 || gaps != 0 {
		t.Errorf("%s: SSRCs %x with %d sequence gaps; want one SSRC, no gap", who, ssrcs, gaps)
	}
	if steps := s.RTP.TimestampSteps(); len(steps) != 0 {
		t.Errorf("%s: timestamp steps other than +160: %v", who, steps)
	}
}

// A customer calling while every agent is busy is answered by earshot,
// hears the welcome, its position and the music, and is connected to the
// first agent that frees up — before a customer who called later. Both
// hear each other; the customer's stream is one stream from the first
// prompt to the agent's voice.
func TestQueuedCallerGetsFirstFreeAgent(t *testing.T) {
	cfg := queueConfig(t)
	e := start(t, cfg)
	a1 := e.agent("1001", "127.0.0.3", toneAgent)
	first := answerNext(t, a1)
	c1, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	s1 := <-first
	a2 := e.agent("1002", "127.0.0.4", toneOther)
	second := answerNext(t, a2)
	c2, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	s2 := <-second
	if s1 == nil || s2 == nil {
		t.Fatal("the agents did not answer the first two calls")
	}

	// Both agents busy: the third caller is answered by earshot.
	c3, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("third caller while all agents are busy: %v (want queued, not refused)", err)
	}
	expectHears(t, "queued caller: welcome", c3, toneWelcome)
	expectHears(t, "queued caller: position", c3, tonePosition)
	expectHears(t, "queued caller: number one", c3, toneNum1)
	hearsMusic(t, "queued caller", c3)

	c4, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	expectHears(t, "second queued caller: number two", c4, toneNum2)
	code, body := api(t, e, "demo-2001", "GET", "/queues", nil)
	waiting, _ := body["waiting"].([]any)
	if code != 200 || len(waiting) != 2 {
		t.Fatalf("GET /queues: %d %v", code, body)
	}
	if p := waiting[0].(map[string]any)["position"]; p != 1.0 {
		t.Fatalf("first waiting caller at position %v", p)
	}

	// Agent 2's call ends: the first queued caller gets it, not c4.
	next := answerNext(t, a2)
	if err := c2.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	s3 := <-next
	if s3 == nil {
		t.Fatal("the freed agent was not offered the queued call")
	}
	expectHears(t, "first queued caller hears the agent", c3, toneOther)
	expectSilent(t, "first queued caller, after the hand-off, hears no music", c3, audio.MusicTones()[0])
	expectHears(t, "agent hears the caller", s3, toneCustomer)
	hearsMusic(t, "second queued caller", c4)
	strictContinuity(t, "queued caller", c3)
	if code, body = api(t, e, "demo-2001", "GET", "/queues", nil); code != 200 || len(body["waiting"].([]any)) != 1 {
		t.Fatalf("GET /queues after the hand-off: %d %v", code, body)
	}
	_ = c1.Hangup(ctx(t))
	_ = c3.Hangup(ctx(t))
	_ = c4.Hangup(ctx(t))
	waitActive(t, e, 0)
	// Nobody waits: an empty list, not null (a page iterates it).
	if code, body = api(t, e, "demo-2001", "GET", "/queues", nil); code != 200 || body["waiting"] == nil || len(body["waiting"].([]any)) != 0 {
		t.Fatalf("GET /queues with nobody waiting: %d %v, want an empty list", code, body)
	}
}

// Limits and exits: a full queue sends the next caller to the overflow
// at once; the maximum wait ends a waiting caller's call with BYE carrying
// the overflow status; a caller who hangs up is abandoned and counted;
// the leave digit records a callback request.
func TestQueueExits(t *testing.T) {
	cfg := queueConfig(t)
	g := &cfg.Tenants[0].Groups[0]
	g.Agents = []string{"1001"}
	g.Queue.MaxLength = 1
	g.Queue.MaxWait = config.Duration(3 * time.Second)
	g.Queue.Overflow = config.Overflow{Status: 486, Reason: "All Agents Busy"}
	e := start(t, cfg)
	events := sse(t, e, "demo-2001")
	a1 := e.agent("1001", "127.0.0.3", toneAgent)
	busy := answerNext(t, a1)
	c1, err := e.customer().Call(ctx(t), "100")
	if err != nil || <-busy == nil {
		t.Fatalf("first call: %v", err)
	}
	waiter := e.customer()
	c2, err := waiter.Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	expectHears(t, "waiting caller", c2, toneWelcome)
	if _, err := e.customer().Call(ctx(t), "100"); statusOf(err) != 486 {
		t.Fatalf("caller past max_length: %v, want 486", err)
	}
	// The maximum wait passes: BYE with the overflow's status as Reason.
	select {
	case <-c2.Ended():
	case <-time.After(6 * time.Second):
		t.Fatal("the maximum wait did not end the waiting call")
	}
	if r := byeReason(waiter); !strings.Contains(r, "cause=486") || !strings.Contains(r, "All Agents Busy") {
		t.Fatalf("BYE Reason %q, want cause=486 with the reason phrase", r)
	}
	if d := waitEvent(t, events, "queue.joined"); !strings.Contains(d, `"position":1`) {
		t.Fatalf("queue.joined: %s", d)
	}
	for {
		d := waitEvent(t, events, "queue.left")
		if strings.Contains(d, `"reason":"timed_out"`) {
			if !strings.Contains(d, `"target":"status:486"`) {
				t.Fatalf("queue.left: %s", d)
			}
			break
		}
	}

	// A caller who hangs up while waiting is abandoned.
	c3, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	expectHears(t, "abandoning caller", c3, toneWelcome)
	if err := c3.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The leave digit: a callback request, a confirmation, then BYE.
	leaver := e.customer()
	c4, err := leaver.Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	expectHears(t, "leaving caller", c4, toneWelcome)
	c4.RTP.SendDigit('*')
	expectHears(t, "leaving caller hears the callback confirmation", c4, toneCallback)
	select {
	case <-c4.Ended():
	case <-time.After(8 * time.Second):
		t.Fatal("earshot did not hang up after the callback request")
	}
	code, body := api(t, e, "demo-2001", "GET", "/callbacks", nil)
	cbs, _ := body["callbacks"].([]any)
	if code != 200 || len(cbs) != 1 || cbs[0].(map[string]any)["caller"] != "5551234" || cbs[0].(map[string]any)["group"] != "support" {
		t.Fatalf("GET /callbacks: %d %v", code, body)
	}
	// Statistics: the timed-out, full, abandoned and callback callers were
	// all missed; the first call was answered.
	_ = c1.Hangup(ctx(t))
	waitActive(t, e, 0)
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, stats := api(t, e, "demo-2001", "GET", "/stats", nil)
		lh := stats["last_hour"].(map[string]any)
		if code == 200 && lh["answered"] == 1.0 && lh["missed"] == 4.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats: %d %v, want 1 answered and 4 missed", code, stats)
		}
		time.Sleep(50 * time.Millisecond)
	}
	qs := e.app.Queue.Stats().Groups[0]
	if qs.Left["abandoned"] != 1 || qs.Left["timed_out"] != 1 || qs.Left["callback"] != 1 || qs.Left["overflowed"] != 1 {
		t.Fatalf("queue stats %+v", qs.Left)
	}
}

// byeReason is the Reason header of the last BYE p received.
func byeReason(p *phone.Phone) string {
	reqs := p.InDialog()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == "BYE" {
			if h := reqs[i].GetHeader("Reason"); h != nil {
				return h.Value()
			}
			return ""
		}
	}
	return ""
}

// Agent states from the phone: *5 pauses (confirmed with a tone and BYE
// whose Reason names the state); a paused agent is offered nothing, and
// the caller waits; *6 makes it available and it is offered the waiting
// call at once. Wrap-up delays the next offer; an unanswered offer with
// max_missed 1 pauses the agent with reason no_answer; unregistering
// logs it out.
func TestAgentStatesFromThePhone(t *testing.T) {
	cfg := queueConfig(t)
	g := &cfg.Tenants[0].Groups[0]
	g.Agents = []string{"1001"}
	g.WrapUp = config.Duration(2 * time.Second)
	g.MaxMissed = 1
	g.RingTimeout = config.Duration(time.Second)
	e := start(t, cfg)
	mine := sse(t, e, "demo-1001")
	a1 := e.agent("1001", "127.0.0.3", toneAgent)

	pause, err := a1.Call(ctx(t), "*52")
	if err != nil {
		t.Fatalf("*52: %v", err)
	}
	expectHears(t, "agent hears the confirmation", pause, 880)
	select {
	case <-pause.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the confirmation call did not end")
	}
	if r := byeReason(a1); !strings.Contains(r, "Paused (lunch)") {
		t.Fatalf("confirmation BYE Reason %q", r)
	}
	agentState(t, e, "1001", "paused", "lunch")
	for {
		// The agent's own stream tells it its state (registering made it
		// available first).
		if d := waitEvent(t, mine, "agent.state_changed"); strings.Contains(d, `"state":"paused"`) {
			if !strings.Contains(d, `"reason":"lunch"`) || !strings.Contains(d, `"actor":"1001"`) {
				t.Fatalf("agent.state_changed: %s", d)
			}
			break
		}
	}

	c1, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("caller while the only agent is paused: %v (want queued)", err)
	}
	expectHears(t, "caller waits", c1, toneWelcome)
	offered := answerNext(t, a1)
	unpaused := time.Now()
	if _, err := a1.Call(ctx(t), "*6"); err != nil {
		t.Fatalf("*6: %v", err)
	}
	s1 := <-offered
	if s1 == nil {
		t.Fatal("the unpaused agent was not offered the waiting call")
	}
	if d := time.Since(unpaused); d > 3*time.Second {
		t.Fatalf("offer came %v after unpausing", d)
	}
	expectHears(t, "caller hears the agent", c1, toneAgent)
	agentState(t, e, "1001", "on_call", "")

	// Wrap-up: the next caller is offered only after it.
	c2, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	offered = answerNext(t, a1)
	if err := c1.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	agentState(t, e, "1001", "wrap_up", "")
	s2 := <-offered
	if s2 == nil {
		t.Fatal("no offer after wrap-up")
	}
	if d := time.Since(ended); d < 1900*time.Millisecond {
		t.Fatalf("offered %v after the call ended, within the 2s wrap-up", d)
	}
	_ = c2.Hangup(ctx(t))

	// An unanswered offer (max_missed 1) pauses the agent: no_answer.
	c3, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	in, err := a1.Next(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Ring()
	<-in.Canceled()
	agentState(t, e, "1001", "paused", "no_answer")
	_ = c3.Hangup(ctx(t))

	// Unregistered: logged out.
	if code, err := a1.Register(ctx(t), 0); err != nil || code != 200 {
		t.Fatalf("unregister: %d %v", code, err)
	}
	agentState(t, e, "1001", "logged_out", "")
	waitActive(t, e, 0)
}

// agentState waits until GET /team shows ext in state (with reason).
func agentState(t *testing.T, e *env, ext, state, reason string) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		_, body := api(t, e, "demo-2001", "GET", "/team", nil)
		team, _ := body["team"].([]any)
		for _, m := range team {
			a := m.(map[string]any)
			if a["extension"] == ext {
				last = a
				r, _ := a["reason"].(string)
				if a["state"] == state && r == reason {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("agent %s: %v, want state %s reason %q", ext, last, state, reason)
}

// A supervisor lists the queue and picks a waiting call — the second in
// line — for itself: its phone rings and gets the caller. Another waiting
// call is moved to another group, whose agent takes it, and an admin then
// listens to that call taken from the queue.
func TestPickMoveAndSuperviseQueuedCalls(t *testing.T) {
	cfg := queueConfig(t)
	tn := &cfg.Tenants[0]
	tn.Groups[0].Agents = []string{"1001"}
	tn.Groups = append(tn.Groups, config.Group{Name: "sales", Numbers: []config.Number{{Number: "200"}},
		Agents: []string{"1002"}, Strategy: config.StrategyRingAll})
	cfg.SetDefaults()
	const toneSup, toneAdmin = 2100.0, 2300.0
	e := start(t, cfg)
	a1 := e.agent("1001", "127.0.0.3", toneAgent)
	busy := answerNext(t, a1)
	first, err := e.customer().Call(ctx(t), "100")
	if err != nil || <-busy == nil {
		t.Fatalf("first call: %v", err)
	}
	c2, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	c3, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	expectHears(t, "third caller waits", c3, toneNum2)
	_, body := api(t, e, "demo-2001", "GET", "/queues?group=support", nil)
	waiting, _ := body["waiting"].([]any)
	if len(waiting) != 2 {
		t.Fatalf("GET /queues: %v", body)
	}
	id2 := waiting[0].(map[string]any)["call_id"].(string)
	id3 := waiting[1].(map[string]any)["call_id"].(string)

	sup := e.agent("2001", "127.0.0.5", toneSup)
	supRings := answerNext(t, sup)
	if code, body := api(t, e, "demo-2001", "POST", "/calls/"+id3+"/pick", nil); code != 202 {
		t.Fatalf("pick: %d %v", code, body)
	}
	ss := <-supRings
	if ss == nil {
		t.Fatal("the supervisor's phone was not rung for the picked call")
	}
	expectHears(t, "picked caller hears the supervisor", c3, toneSup)
	expectHears(t, "supervisor hears the picked caller", ss, toneCustomer)
	hearsMusic(t, "the caller ahead keeps waiting", c2)
	if code, _ := api(t, e, "demo-2001", "POST", "/calls/"+id3+"/pick", nil); code != 409 {
		t.Fatalf("picking an answered call: %d, want 409", code)
	}

	a2 := e.agent("1002", "127.0.0.4", toneOther)
	salesRings := answerNext(t, a2)
	if code, body := api(t, e, "demo-2001", "POST", "/calls/"+id2+"/move", map[string]any{"group": "nowhere"}); code != 400 {
		t.Fatalf("move to an unknown group: %d %v", code, body)
	}
	if code, body := api(t, e, "demo-2001", "POST", "/calls/"+id2+"/move", map[string]any{"group": "sales"}); code != 200 {
		t.Fatalf("move: %d %v", code, body)
	}
	s2 := <-salesRings
	if s2 == nil {
		t.Fatal("the sales agent was not rung for the moved call")
	}
	expectHears(t, "moved caller hears the sales agent", c2, toneOther)
	strictContinuity(t, "moved caller", c2)

	// An admin listens to the call the sales agent took from the queue.
	admin := e.agent("9000", "127.0.0.6", toneAdmin)
	ls, code := dial(t, admin, "*11002")
	if code != 200 {
		t.Fatalf("*11002: %d", code)
	}
	expectHears(t, "admin hears the caller", ls, toneCustomer)
	expectHears(t, "admin hears the agent", ls, toneOther)
	expectSilent(t, "the caller does not hear the admin", c2, toneAdmin)
	_, audit := api(t, e, "demo-2001", "GET", "/audit?action=call.picked", nil)
	if recs, _ := audit["records"].([]any); len(recs) != 2 {
		t.Fatalf("call.picked audit records: %v", audit)
	}
	for _, s := range []*phone.Session{first, c2, c3, ls} {
		_ = s.Hangup(ctx(t))
	}
	waitActive(t, e, 0)
}

// Music on hold for a held party: with the tenant's hold_music on, the
// agent hears the music while the customer holds it (re-INVITE sendonly)
// and the customer again once it resumes, in one continuous stream; with
// it off (the default), a held agent hears no music.
func TestHoldMusic(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			cfg := queueConfig(t)
			cfg.Tenants[0].HoldMusic = on
			e := start(t, cfg)
			a1 := e.agent("1001", "127.0.0.3", toneAgent)
			answered := answerNext(t, a1)
			c, err := e.customer().Call(ctx(t), "100")
			if err != nil {
				t.Fatal(err)
			}
			s := <-answered
			if s == nil {
				t.Fatal("agent did not answer")
			}
			expectHears(t, "agent hears the customer", s, toneCustomer)
			if code, err := c.Reinvite(ctx(t), "sendonly"); err != nil || code != 200 {
				t.Fatalf("hold: %d %v", code, err)
			}
			// Measure only what arrives once the customer holds (its phone
			// stops sending then).
			s.RTP.Clear()
			if on {
				hearsMusic(t, "held agent", s)
			} else {
				deadline := time.Now().Add(time.Second)
				for time.Now().Before(deadline) {
					for _, hz := range audio.MusicTones() {
						expectSilent(t, "held agent without hold_music", s, hz)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			if code, err := c.Reinvite(ctx(t), "sendrecv"); err != nil || code != 200 {
				t.Fatalf("resume: %d %v", code, err)
			}
			expectHears(t, "agent hears the customer again", s, toneCustomer)
			if on {
				// earshot filled the hold with music: the agent's stream
				// has no gap from the customer's voice to the music and
				// back. (Without it the customer's silence is a real pause
				// in the stream, passed on as such.)
				expectSilent(t, "no music after the resume", s, audio.MusicTones()[0])
				strictContinuity(t, "agent", s)
			}
			_ = c.Hangup(ctx(t))
			waitActive(t, e, 0)
		})
	}
}
