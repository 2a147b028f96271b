package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/internal/phone"
)

// TestSupervisionEveryModeByDTMF walks one supervisor through every mode
// with RFC 4733 digits — listen → whisper → barge → listen → intercept —
// proving the hear-matrix on decoded audio after each switch, the stream
// continuity the customer and agent receive, and the intercept hand-over.
func TestSupervisionEveryModeByDTMF(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)
	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("*11001 answered %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}

	sc.expect("listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	ss.RTP.SendDigit('2')
	sc.expect("whisper", hearing{sc.cust: {sAgt}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	ss.RTP.SendDigit('3')
	sc.expect("barge", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	ss.RTP.SendDigit('1')
	sc.expect("listen again", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	continuity(t, sc.agent)
	continuity(t, sc.cust)

	ss.RTP.SendDigit('4')
	waitEnded(t, "agent (intercepted)", sc.agent.s)
	sc.expect("intercept", hearing{sc.cust: {sSup}, sup: {sCust}}, all...)
	// The customer's stream stays one stream at its 20 ms pace, also while
	// the supervisor's phone sent the digit instead of audio: the call
	// stays mixed after an intercept.
	continuity(t, sc.cust)
	if n := sc.cust.s.RTP.Events(); n != 0 {
		t.Errorf("the customer received %d telephone-event packets of the supervisor's digits", n)
	}
	if snap := e.app.SIP.Calls(); len(snap) != 1 || len(snap[0].Agents) != 1 || snap[0].Agents[0] != "2001" {
		t.Fatalf("after intercept the call's agent is %+v, want 2001", snap)
	}

	// The released agent takes the next call.
	answered := answerNext(t, sc.agentPhone)
	next, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("next customer's call after the intercept: %v", err)
	}
	if <-answered == nil {
		t.Fatal("the released agent did not get the next call")
	}
	_ = next.Hangup(ctx(t))

	// The supervisor now has the call: hanging up ends it for the customer.
	if err := ss.Hangup(ctx(t)); err != nil {
		t.Fatalf("supervisor bye: %v", err)
	}
	waitEnded(t, "customer", sc.cust.s)
	waitActive(t, e, 0) // the call's media is closed once it left the table
	body := get(t, "http://"+e.app.HTTPAddr+"/metrics")
	for _, want := range []string{
		`earshot_supervisions_started_total{mode="listen"} 1`,
		`earshot_supervision_mode_switches_total{mode="whisper"} 1`,
		`earshot_supervision_mode_switches_total{mode="intercept"} 1`,
		`earshot_supervisions_active{mode="barge"} 0`,
		"earshot_mixed_sessions 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, name := range []string{"earshot_mixer_tick_lateness_seconds_count", "earshot_jitter_buffer_delay_seconds_count",
		`earshot_jitter_buffer_frames_total{kind="played"}`, "earshot_mixer_frames_sent_total"} {
		if v := metricValue(body, name); v <= 0 {
			t.Errorf("%s = %v, want > 0 after a mixed call", name, v)
		}
	}
}

// metricValue reads one sample of a Prometheus text exposition, -1 if absent.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestListenAndWhisperSendNoSIP: while a supervisor listens, switches to
// whisper (by SIP INFO this time) and leaves, neither the customer's nor
// the agent's phone receives a single SIP request, and the call is back
// on the relay with each stream intact.
func TestListenAndWhisperSendNoSIP(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	custReqs, agentReqs := sc.custPhone.Requests(), sc.agentPhone.Requests()
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)
	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("*11001 answered %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	sc.expect("listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	if code, err := ss.Info(ctx(t), '2'); err != nil || code != 200 {
		t.Fatalf("INFO 2: %d %v", code, err)
	}
	sc.expect("whisper", hearing{sc.cust: {sAgt}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	if err := ss.Hangup(ctx(t)); err != nil {
		t.Fatalf("supervisor bye: %v", err)
	}
	sc.expect("relay again", hearing{sc.cust: {sAgt}, sc.agent: {sCust}}, all...)
	if n, m := sc.custPhone.Requests()-custReqs, sc.agentPhone.Requests()-agentReqs; n != 0 || m != 0 {
		t.Errorf("SIP requests during silent monitoring: customer %d, agent %d; want none", n, m)
	}
	continuity(t, sc.cust)
	continuity(t, sc.agent)
	if e.app.Media.Stats().MixedSessions != 0 {
		t.Errorf("call still mixed after the last supervisor left")
	}
}

// TestTwoSupervisors: a whisperer and a listener at once, then the
// listener barges. A listener never hears a whisperer; the agent hears
// every whisperer and barger.
func TestTwoSupervisors(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	s1, code := dial(t, sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU), "*21001")
	if code != 200 {
		t.Fatalf("*21001 answered %d", code)
	}
	s2, code := dial(t, sc.supervisor("9000", "127.0.0.16", sSup2, phone.PCMU), "*11001")
	if code != 200 {
		t.Fatalf("*11001 (admin) answered %d", code)
	}
	w, l := party{"whisperer", s1, sSup}, party{"listener", s2, sSup2}
	all := []float64{sCust, sAgt, sSup, sSup2}
	sc.expect("whisper+listen", hearing{
		sc.cust: {sAgt}, sc.agent: {sCust, sSup}, w: {sCust, sAgt}, l: {sCust, sAgt},
	}, all...)
	s2.RTP.SendDigit('3')
	sc.expect("whisper+barge", hearing{
		sc.cust: {sAgt, sSup2}, sc.agent: {sCust, sSup, sSup2}, w: {sCust, sAgt, sSup2}, l: {sCust, sAgt},
	}, all...)
	continuity(t, sc.cust)
	continuity(t, sc.agent)

	// The whisperer intercepts: it takes the agent's place, and the barger
	// stays on the call, now hearing the interceptor as the agent.
	s1.RTP.SendDigit('4')
	waitEnded(t, "agent (intercepted)", sc.agent.s)
	sc.expect("intercept+barge", hearing{sc.cust: {sSup, sSup2}, w: {sCust, sSup2}, l: {sCust, sSup}}, all...)
}

// TestSupervisionMixedCodecs: the supervisor's phone speaks A-law while
// the call is µ-law, and the other way round.
func TestSupervisionMixedCodecs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		call, sup uint8
	}{{"PCMU call, PCMA supervisor", phone.PCMU, phone.PCMA}, {"PCMA call, PCMU supervisor", phone.PCMA, phone.PCMU}} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, testConfig(t))
			sc := newSupCall(t, e, callOpts{custCodec: tc.call, agentCodec: tc.call})
			ss, code := dial(t, sc.supervisor("2001", "127.0.0.15", sSup, tc.sup), "*31001")
			if code != 200 {
				t.Fatalf("*31001 answered %d", code)
			}
			sup := party{"supervisor", ss, sSup}
			sc.expect("barge", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}},
				sCust, sAgt, sSup)
		})
	}
}

// TestSupervisionImpairedSenders: every phone loses 5% of what it sends
// and delays packets by up to 40 ms (reordering them). The mixer's jitter
// buffers must keep the hear-matrix exact. While the supervisor listens
// (and, for the customer, whispers) the relay feeds the two parties and
// forwards the impaired streams as they come, gaps included, as it should;
// once both streams are the mixer's (barge) every frame must arrive.
func TestSupervisionImpairedSenders(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{loss: 0.05, jitter: 40 * time.Millisecond})
	sp := e.phone(phone.Config{IP: "127.0.0.15", User: "2001", Password: "demo", Tone: sSup, Level: sLevel,
		Loss: 0.05, Jitter: 40 * time.Millisecond})
	if code, err := sp.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register: %d %v", code, err)
	}
	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("*11001 answered %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	sc.cust.s.RTP.Clear()
	sc.agent.s.RTP.Clear()
	sc.expect("listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	ss.RTP.SendDigit('2')
	sc.expect("whisper", hearing{sc.cust: {sAgt}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	ss.RTP.SendDigit('3')
	sc.expect("barge", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	// Both streams are the mixer's now (the hand-over is long done).
	sc.cust.s.RTP.ResetContinuity()
	sc.agent.s.RTP.ResetContinuity()
	sc.expect("barge, mixed throughout", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	continuity(t, sc.cust)
	continuity(t, sc.agent)
	ss.RTP.SendDigit('1')
	sc.expect("listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
}

// TestSupervisionPermissions: roles, per-user modes and the call's state
// decide who may join how; a refused DTMF switch leaves the mode as it was.
func TestSupervisionPermissions(t *testing.T) {
	cfg := testConfig(t)
	for i, u := range cfg.Tenants[0].Users {
		if u.Extension == "2001" {
			cfg.Tenants[0].Users[i].Modes = []string{"listen"}
		}
	}
	e := start(t, cfg)
	sp := e.phone(phone.Config{IP: "127.0.0.15", User: "2001", Password: "demo", Tone: sSup, Level: sLevel})
	if code, err := sp.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register: %d %v", code, err)
	}
	if _, code := dial(t, sp, "*11001"); code != 404 {
		t.Errorf("listen with no call for the agent: %d, want 404", code)
	}
	sc := newSupCall(t, e, callOpts{})
	agent2 := e.agent("1002", "127.0.0.14", toneOther)
	if _, code := dial(t, agent2, "*11001"); code != 403 {
		t.Errorf("an agent dialling *1: %d, want 403", code)
	}
	if _, code := dial(t, sp, "*21001"); code != 403 {
		t.Errorf("listen-only supervisor dialling whisper: %d, want 403", code)
	}
	if _, code := dial(t, sp, "*91001"); code != 404 {
		t.Errorf("unknown feature code: %d, want 404", code)
	}
	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("listen: %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	sc.expect("listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	ss.RTP.SendDigit('3')
	if code, err := ss.Info(ctx(t), '2'); err != nil || code != 200 {
		t.Fatalf("INFO 2: %d %v", code, err)
	}
	// Both refusals are counted before the matrix is looked at again, so
	// the check below sees the state after them.
	deadline := time.Now().Add(3 * time.Second)
	for {
		st := e.app.SIP.Stats()
		if st.SupervisionsRefused[b2bua.ModeBarge] >= 1 && st.SupervisionsRefused[b2bua.ModeWhisper] >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusals not counted: %v", st.SupervisionsRefused)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sc.expect("still listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	if snap := e.app.SIP.Supervisions(); len(snap) != 1 || snap[0].Mode != b2bua.ModeListen {
		t.Errorf("supervisions after refused switches: %+v", snap)
	}
}

// TestSupervisionThroughAPI: the in-process API rings the supervisor's
// phone, attaches on answer, switches mode and detaches.
func TestSupervisionThroughAPI(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)
	calls := e.app.SIP.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls: %+v", calls)
	}
	if _, err := e.app.SIP.Supervise("demo", "1002", calls[0].ID, b2bua.ModeListen, b2bua.RingBoth); err == nil {
		t.Errorf("an agent started a supervision")
	}
	if _, err := e.app.SIP.Supervise("other", "2001", calls[0].ID, b2bua.ModeListen, b2bua.RingBoth); err == nil {
		t.Errorf("another tenant's user started a supervision")
	}
	answered := answerNext(t, sp)
	snap, err := e.app.SIP.Supervise("demo", "2001", calls[0].ID, b2bua.ModeWhisper, b2bua.RingBoth)
	if err != nil {
		t.Fatalf("supervise: %v", err)
	}
	if snap.State != b2bua.SupRinging || snap.Via != b2bua.ViaAPI || snap.Agent != "1001" {
		t.Errorf("snapshot %+v", snap)
	}
	ss := <-answered
	if ss == nil {
		t.Fatal("supervisor's phone did not answer")
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	sc.expect("whisper", hearing{sc.cust: {sAgt}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	if _, err := e.app.SIP.SetSupervisionMode("demo", "2001", snap.ID, b2bua.ModeBarge); err != nil {
		t.Fatalf("switch to barge: %v", err)
	}
	sc.expect("barge", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	if err := e.app.SIP.EndSupervision("demo", "2001", snap.ID); err != nil {
		t.Fatalf("end: %v", err)
	}
	waitEnded(t, "supervisor", ss)
	sc.expect("relay again", hearing{sc.cust: {sAgt}, sc.agent: {sCust}}, all...)
	if _, ok := e.app.SIP.Supervision(snap.ID); ok {
		t.Errorf("supervision still listed after its end")
	}
	continuity(t, sc.cust)
	continuity(t, sc.agent)
}

// Cue tones (rtpengine): 1900 Hz beeps and pips, a 440 Hz error tone.
const (
	cueHz   = 1900.0
	errorHz = 440.0
)

// watchBlip polls a party's audio for a short tone for d and returns the
// highest power seen.
func watchBlip(p party, hz float64, d time.Duration) float64 {
	best := -200.0
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		best = max(best, p.s.RTP.Power(hz))
	}
	return best
}

// TestSupervisionCues: with the tenant policies on, the agent (only) hears
// a pip when monitoring starts, customer and agent hear a beep when the
// supervisor barges, and a refused switch plays the supervisor an error
// tone.
func TestSupervisionCues(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tenants[0].BargeBeep = true
	cfg.Tenants[0].NotifyAgentOnMonitor = true
	for i, u := range cfg.Tenants[0].Users {
		if u.Extension == "2001" {
			cfg.Tenants[0].Users[i].Modes = []string{"listen", "barge"}
		}
	}
	e := start(t, cfg)
	sc := newSupCall(t, e, callOpts{})
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)

	type result struct{ cust, agent float64 }
	notify := make(chan result, 1)
	go func() {
		a := make(chan float64, 1)
		go func() { a <- watchBlip(sc.agent, cueHz, 1500*time.Millisecond) }()
		c := watchBlip(sc.cust, cueHz, 1500*time.Millisecond)
		notify <- result{c, <-a}
	}()
	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("*11001: %d", code)
	}
	if r := <-notify; r.agent < heard || r.cust > absent {
		t.Errorf("monitoring notice: agent %.1f dBFS (want >= %.0f), customer %.1f (want <= %.0f)", r.agent, heard, r.cust, absent)
	}
	sup := party{"supervisor", ss, sSup}

	beep := make(chan result, 1)
	go func() {
		a := make(chan float64, 1)
		go func() { a <- watchBlip(sc.agent, cueHz, 1500*time.Millisecond) }()
		c := watchBlip(sc.cust, cueHz, 1500*time.Millisecond)
		beep <- result{c, <-a}
	}()
	ss.RTP.SendDigit('3')
	if r := <-beep; r.agent < heard || r.cust < heard {
		t.Errorf("barge beep: agent %.1f, customer %.1f dBFS (want both >= %.0f)", r.agent, r.cust, heard)
	}

	errTone := make(chan float64, 1)
	go func() { errTone <- watchBlip(sup, errorHz, 1500*time.Millisecond) }()
	ss.RTP.SendDigit('2') // whisper is not among 2001's modes
	if p := <-errTone; p < heard {
		t.Errorf("refused switch: supervisor's error tone %.1f dBFS (want >= %.0f)", p, heard)
	}
	sc.expect("still barge", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}},
		sCust, sAgt, sSup)
}
