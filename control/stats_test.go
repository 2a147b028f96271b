package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// feed sends a call through answered (after wait) or missed (given up
// after wait), at the given offset before t0.
func feed(svc *Service, id, group string, ago, wait time.Duration, answered bool) {
	c := b2bua.CallSnapshot{ID: id, Tenant: "acme", Direction: b2bua.Inbound, Group: group, Agents: []string{"1001"},
		StartedAt: t0.Add(-ago - wait)}
	if answered {
		c.State, c.AnsweredAt = b2bua.StateAnswered, t0.Add(-ago)
		svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallAnswered, Time: c.AnsweredAt, Call: c})
		c.State, c.EndedAt = b2bua.StateEnded, t0.Add(-ago/2)
	} else {
		c.State, c.EndedAt, c.EndReason = b2bua.StateEnded, t0.Add(-ago), b2bua.EndCallerHangup
	}
	svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallEnded, Time: c.EndedAt, Call: c})
}

func TestStats(t *testing.T) {
	f := newFixture(t)
	feed(f.svc, "h1", "support", 2*time.Minute, 10*time.Second, true)  // in SLA, in every window
	feed(f.svc, "h2", "support", 10*time.Minute, 40*time.Second, true) // late
	feed(f.svc, "h3", "support", 20*time.Minute, 30*time.Second, false)
	feed(f.svc, "h4", "sales", 50*time.Minute, 5*time.Second, true)
	feed(f.svc, "h5", "support", 2*time.Hour, 5*time.Second, false) // outside the hour
	ringing := call("r1", "acme", "support", "100", "1001", b2bua.StateRinging)
	ringing.StartedAt = t0.Add(-45 * time.Second)
	f.sw.add(ringing)
	f.svc.flush()

	var v StatsView
	f.must(200, "GET", "/api/v1/stats", tokSup, "").decode(t, &v)
	if v.Online != 2 || v.Waiting != 1 || v.LongestWaitingSeconds != 45 {
		t.Errorf("live %+v", v)
	}
	if v.LastHour.Answered != 3 || v.LastHour.Missed != 1 || v.LastHour.AverageWaitSeconds != 21.25 {
		t.Errorf("last hour %+v", v.LastHour)
	}
	want := map[string]float64{"5m": 100, "15m": 50, "30m": 100.0 / 3, "60m": 50}
	for w, pct := range want {
		if got := v.SLA[w]; got == nil || *got != pct {
			t.Errorf("SLA %s = %v, want %v", w, got, pct)
		}
	}
	if len(v.Groups) != 2 || v.Groups[0].Group != "support" || v.Groups[1].Group != "sales" {
		t.Fatalf("groups %+v", v.Groups)
	}
	if s := v.Groups[1]; s.LastHour.Answered != 1 || s.SLA["5m"] != nil || *s.SLA["60m"] != 100 || s.Online != 1 {
		t.Errorf("sales %+v", s)
	}
	var g StatsView
	f.must(200, "GET", "/api/v1/stats?group=support", tokSup, "").decode(t, &g)
	if g.Group != "support" || g.LastHour.Missed != 1 || g.Waiting != 1 || len(g.Groups) != 0 {
		t.Errorf("support %+v", g)
	}
	f.do("GET", "/api/v1/stats?group=nope", tokSup, "").problem(t, 400, "group")
	f.do("GET", "/api/v1/stats", tokAgent, "").problem(t, 403, "")
	var other StatsView
	f.must(200, "GET", "/api/v1/stats", tokOtherSup, "").decode(t, &other)
	if other.LastHour.Answered != 0 || other.Online != 1 || other.Waiting != 0 {
		t.Errorf("other tenant %+v", other)
	}

	// History survives a restart.
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	var again StatsView
	f.must(200, "GET", "/api/v1/stats", tokSup, "").decode(t, &again)
	if again.LastHour != v.LastHour {
		t.Errorf("after restart %+v, before %+v", again.LastHour, v.LastHour)
	}
}

func TestSupervisionReport(t *testing.T) {
	f := newFixture(t)
	sp := b2bua.SupervisionSnapshot{ID: "s1", CallID: "c1", Tenant: "acme", Supervisor: "2001", Agent: "1001",
		Mode: b2bua.ModeListen, State: b2bua.SupActive, Via: b2bua.ViaFeatureCode}
	at := func(d time.Duration) time.Time { return t0.Add(-time.Hour + d) }
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: at(0), Supervision: sp})
	sp.Mode = b2bua.ModeWhisper
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionModeChanged, Time: at(60 * time.Second), Supervision: sp, Previous: b2bua.ModeListen})
	sp.Mode = b2bua.ModeIntercept
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionModeChanged, Time: at(90 * time.Second), Supervision: sp, Previous: b2bua.ModeWhisper})
	sp.State, sp.EndReason = b2bua.SupEnded, b2bua.SupEndHangup
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionEnded, Time: at(100 * time.Second), Supervision: sp})
	// A second one, still listening at t0.
	live := sp
	live.ID, live.Mode, live.State, live.EndReason = "s2", b2bua.ModeListen, b2bua.SupActive, ""
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0.Add(-30 * time.Second), Supervision: live})
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionRefused, Time: t0, Supervision: live, Requested: b2bua.ModeBarge, Reason: "mode not allowed"})
	f.svc.flush()

	var rep SupervisionReport
	f.must(200, "GET", "/api/v1/reports/supervision", tokSup, "").decode(t, &rep)
	want := []ReportRow{{"2001", b2bua.ModeIntercept, 1, 10}, {"2001", b2bua.ModeListen, 2, 90}, {"2001", b2bua.ModeWhisper, 1, 30}}
	if len(rep.Rows) != len(want) {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for i := range want {
		if rep.Rows[i] != want[i] {
			t.Errorf("row %d %+v, want %+v", i, rep.Rows[i], want[i])
		}
	}
	// Clipped to a period that starts 75 s into the first supervision.
	from := at(75 * time.Second).Format(time.RFC3339)
	f.must(200, "GET", "/api/v1/reports/supervision?from="+from+"&to="+at(95*time.Second).Format(time.RFC3339), tokSup, "").decode(t, &rep)
	if len(rep.Rows) != 2 || rep.Rows[0] != (ReportRow{"2001", b2bua.ModeIntercept, 1, 5}) || rep.Rows[1] != (ReportRow{"2001", b2bua.ModeWhisper, 1, 15}) {
		t.Errorf("clipped %+v", rep.Rows)
	}
	f.do("GET", "/api/v1/reports/supervision?from=x", tokSup, "").problem(t, 400, "from")
	f.do("GET", "/api/v1/reports/supervision", tokAgent, "").problem(t, 403, "")
	f.must(200, "GET", "/api/v1/reports/supervision", tokOtherSup, "").decode(t, &rep)
	if len(rep.Rows) != 0 {
		t.Errorf("other tenant sees %+v", rep.Rows)
	}

	var page AuditPage
	f.must(200, "GET", "/api/v1/audit?call_id=c1", tokSup, "").decode(t, &page)
	var actions []string
	for _, r := range page.Records {
		actions = append(actions, r.Action+"/"+r.Mode+"/"+r.Via+"/"+r.Result)
	}
	wantActions := []string{
		"supervision.started/listen/feature_code/ok",
		"supervision.mode_changed/whisper/feature_code/ok",
		"supervision.mode_changed/intercept/feature_code/ok",
		"supervision.intercept/intercept/feature_code/ok",
		"supervision.ended/intercept/feature_code/ok",
		"supervision.started/listen/feature_code/ok",
		"supervision.refused/barge/feature_code/refused",
	}
	if len(actions) != len(wantActions) {
		t.Fatalf("audit %v", actions)
	}
	for i := range actions {
		if actions[i] != wantActions[i] {
			t.Errorf("audit %d %s, want %s", i, actions[i], wantActions[i])
		}
	}
}

// refStats is the statistics computed the plain way, one scan of the
// live calls and the history per view: the reference the one-pass tally
// must match.
func refStats(s *Service, tenant, group string, live []b2bua.CallSnapshot, outcomes []outcome, now time.Time) StatsView {
	v := StatsView{Tenant: tenant, Group: group, SLA: map[string]*float64{}}
	for _, c := range live {
		if c.Tenant != tenant || (group != "" && c.Group != group) {
			continue
		}
		switch c.State {
		case b2bua.StateAnswered:
			v.Online++
		case b2bua.StateRinging, b2bua.StateQueued:
			if c.State == b2bua.StateQueued {
				v.Queued++
			}
			v.Waiting++
			v.LongestWaitingSeconds = max(v.LongestWaitingSeconds, now.Sub(c.StartedAt).Seconds())
		}
	}
	var hour []outcome
	for _, o := range outcomes {
		if o.tenant == tenant && (group == "" || o.group == group) && !o.at.Before(now.Add(-historyWindow)) {
			hour = append(hour, o)
		}
	}
	var waitSum time.Duration
	for _, o := range hour {
		if o.answered {
			v.LastHour.Answered++
		} else {
			v.LastHour.Missed++
		}
		waitSum += o.wait
	}
	if n := len(hour); n > 0 {
		v.LastHour.AverageWaitSeconds = (waitSum / time.Duration(n)).Seconds()
	}
	for _, win := range slaWindows() {
		n, good := 0, 0
		for _, o := range hour {
			if o.at.Before(now.Add(-win.d)) {
				continue
			}
			n++
			if o.answered && o.wait.Seconds() <= s.dir.slaThreshold(tenant, o.group) {
				good++
			}
		}
		v.SLA[win.name] = nil
		if n > 0 {
			pct := float64(good) * 100 / float64(n)
			v.SLA[win.name] = &pct
		}
	}
	return v
}

// TestStatsMatchesReference: random live calls and history, in groups
// configured or not, and every view of GET /stats equals the reference.
func TestStatsMatchesReference(t *testing.T) {
	f := newFixture(t)
	now := f.now()
	r := rand.New(rand.NewPCG(3, 4))
	groups := []string{"support", "sales", "", "gone"}
	tenants := []string{"acme", "zeta"}
	for i := range 400 {
		c := call(fmt.Sprintf("c%d", i), tenants[r.IntN(2)], groups[r.IntN(4)], "100", "1001",
			[]b2bua.CallState{b2bua.StateRinging, b2bua.StateQueued, b2bua.StateAnswered, b2bua.StateEnded}[r.IntN(4)])
		c.StartedAt = now.Add(-time.Duration(r.IntN(600_000)) * time.Millisecond)
		f.sw.add(c)
	}
	var outcomes []outcome
	for range 3000 {
		o := outcome{at: now.Add(-time.Duration(r.Int64N(int64(70 * time.Minute)))), tenant: tenants[r.IntN(2)],
			group: groups[r.IntN(4)], answered: r.IntN(3) > 0, wait: time.Duration(r.Int64N(int64(time.Minute)))}
		outcomes = append(outcomes, o)
	}
	slices.SortFunc(outcomes, func(a, b outcome) int { return a.at.Compare(b.at) })
	f.svc.history.outcomes = slices.Clone(outcomes)
	live := f.sw.Calls()
	for _, tc := range []struct{ token, tenant string }{{tokSup, "acme"}, {tokOtherSup, "zeta"}} {
		want := refStats(f.svc, tc.tenant, "", live, outcomes, now)
		for _, g := range f.svc.dir.groups(tc.tenant) {
			want.Groups = append(want.Groups, refStats(f.svc, tc.tenant, g, live, outcomes, now))
		}
		checkStats(t, f.must(200, "GET", "/api/v1/stats", tc.token, "").body, want)
		for _, g := range f.svc.dir.groups(tc.tenant) {
			checkStats(t, f.must(200, "GET", "/api/v1/stats?group="+g, tc.token, "").body,
				refStats(f.svc, tc.tenant, g, live, outcomes, now))
		}
	}
}

func checkStats(t *testing.T, got []byte, want StatsView) {
	t.Helper()
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), w) {
		t.Fatalf("stats\n%s\nwant\n%s", got, w)
	}
}

// TestHistoryPrunes: three hours of outcomes at a steady rate; the
// history keeps at most a third more than the hour, and the statistics
// count only the hour.
func TestHistoryPrunes(t *testing.T) {
	h := newHistory(newDirectory(testTenants()))
	const perHour = 3600
	at := t0
	for range 3 * perHour {
		at = at.Add(time.Second)
		h.insert(outcome{at: at, tenant: "acme", group: "support", answered: true}, at)
	}
	if n := len(h.outcomes); n > perHour*4/3+1 {
		t.Fatalf("%d outcomes kept for an hour of %d", n, perHour)
	}
	f := &Service{dir: h.dir}
	tl := f.newTally("acme", "", at)
	h.tally(tl)
	if v := tl.view(0); v.LastHour.Answered != perHour+1 {
		t.Fatalf("last hour %+v, want %d answered", v.LastHour, perHour+1)
	}
}

// TestStatsJSONMatchesEncoder: the hand-encoded answer of GET /stats is
// byte for byte what json.Encoder writes for the views, for the tenant
// with its groups and for one group, on random tallies (empty windows,
// floats of every magnitude, names to escape), and a non-finite value is
// refused so that the handler falls back to encoding/json.
func TestStatsJSONMatchesEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	floats := []float64{0, 1, 0.5, 1e-7, 123456.789, 1e21, 3.0000000000000004, 45}
	for round := range 200 {
		tally := &statsTally{tenant: "acme <&> \u2028", now: t0}
		if round%3 == 0 {
			tally.group = "support \"desk\""
		} else {
			for g := range rng.IntN(4) {
				tally.groups = append(tally.groups, fmt.Sprint("g", g, "\x01é"))
			}
		}
		tally.slots = make([]statsSlot, 1+len(tally.groups))
		for k := range tally.slots {
			sl := &tally.slots[k]
			sl.online, sl.waiting, sl.queued = rng.IntN(5000), rng.IntN(100), rng.IntN(50)
			sl.longest = floats[rng.IntN(len(floats))] * rng.Float64()
			sl.answered, sl.missed = rng.IntN(3), rng.IntN(3)
			sl.waitSum = time.Duration(rng.Int64N(int64(time.Hour)))
			for w := range sl.n {
				sl.n[w] = rng.IntN(4)
				sl.good[w] = rng.IntN(sl.n[w] + 1)
			}
		}
		got, ok := tally.appendJSON(nil)
		if !ok {
			t.Fatalf("round %d refused", round)
		}
		v := tally.view(0)
		if tally.group == "" {
			for i := range tally.groups {
				v.Groups = append(v.Groups, tally.view(1+i))
			}
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("round %d:\n%s\nwant\n%s", round, got, want.Bytes())
		}
	}
	bad := &statsTally{tenant: "acme", slots: []statsSlot{{longest: math.Inf(1)}}}
	if _, ok := bad.appendJSON(nil); ok {
		t.Error("an infinite wait was encoded")
	}
}
