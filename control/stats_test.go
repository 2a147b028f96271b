package control

import (
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
