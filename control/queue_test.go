package control

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/b2bua/queue"
)

// withQueue reopens f's service with a real queue as its AgentDesk, every
// user registered.
func withQueue(t *testing.T, f *fixture) *queue.Queue {
	t.Helper()
	tenants := b2bua.Config{Tenants: testTenants()}.WithDefaults().Tenants
	obs := &forward{}
	q := queue.New(queue.Config{Tenants: tenants, Observer: obs, Tick: time.Hour, Now: f.now})
	t.Cleanup(func() { q.Close() })
	f.svc.Close()
	svc, err := New(Config{Tenants: testTenants(), DataDir: f.dir, Switchboard: f.sw, Agents: q, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc, f.h = svc, svc.Handler()
	obs.to = svc
	q.SetPresence(func(string, string) bool { return true })
	return q
}

// Who may change whose state: an agent its own, a supervisor the agents
// of the groups it supervises, an admin anyone's; every change audited.
func TestAgentStatePermissions(t *testing.T) {
	f := newFixture(t)
	withQueue(t, f)
	put := func(token, ext, body string) resp {
		return f.doHdr("PUT", "/api/v1/agents/"+ext+"/state", token, body, map[string]string{"Content-Type": "application/json"})
	}
	for _, tc := range []struct {
		name, token, ext, body string
		want                   int
		field                  string
	}{
		{"agent pauses itself", tokAgent, "1001", `{"state":"paused","reason":"lunch"}`, 200, ""},
		{"agent may not pause another", tokAgent, "1002", `{"state":"paused"}`, 403, ""},
		{"supervisor of the group", tokSup, "1002", `{"state":"paused","reason":"training"}`, 200, ""},
		// 2002 supervises sales (it names no supervisors), not support
		// (it names 2001): 1001, only in support, is not its agent.
		{"supervisor of another group", tokSup2, "1001", `{"state":"available"}`, 403, ""},
		{"any supervisor of a group naming none", tokSup2, "1002", `{"state":"available"}`, 200, ""},
		{"and back", tokSup, "1002", `{"state":"paused","reason":"training"}`, 200, ""},
		{"admin anyone", tokAdmin, "1001", `{"state":"logged_out"}`, 200, ""},
		{"unknown extension", tokAdmin, "7777", `{"state":"available"}`, 404, ""},
		{"other tenant's token", tokOtherSup, "1002", `{"state":"available"}`, 404, ""},
		{"bad state", tokAgent, "1001", `{"state":"ringing"}`, 400, "state"},
		{"bad reason", tokAgent, "1001", `{"state":"paused","reason":"nap"}`, 400, "reason"},
		{"reason without pause", tokAgent, "1001", `{"state":"available","reason":"lunch"}`, 400, "reason"},
		{"unknown key", tokAgent, "1001", `{"state":"paused","why":"lunch"}`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.token, tc.ext, tc.body)
			if tc.want != 200 {
				r.problem(t, tc.want, tc.field)
				return
			}
			var st b2bua.AgentStatus
			r.decode(t, &st)
			if r.code != 200 || st.Extension != tc.ext || !strings.Contains(tc.body, string(st.State)) {
				t.Fatalf("%d %+v", r.code, st)
			}
		})
	}
	var page AuditPage
	f.must(200, "GET", "/api/v1/audit?action=agent.state_changed", tokSup, "").decode(t, &page)
	var details []string
	for _, rec := range page.Records {
		details = append(details, rec.Actor+" "+rec.Detail)
	}
	want := []string{"1001 1001: logged_out -> paused (lunch)", "2001 1002: logged_out -> paused (training)",
		"2002 1002: paused -> available", "2001 1002: available -> paused (training)", "9000 1001: paused -> logged_out"}
	if strings.Join(details, "|") != strings.Join(want, "|") {
		t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
	}
	var team struct{ Team []b2bua.AgentStatus }
	f.must(200, "GET", "/api/v1/team", tokAgent, "").decode(t, &team)
	if len(team.Team) != 5 || team.Team[1].Extension != "1002" || team.Team[1].State != b2bua.AgentPaused || team.Team[1].Reason != "training" {
		t.Fatalf("team %+v", team.Team)
	}
}

// forward passes the queue's events to the service created after it.
type forward struct{ to b2bua.Observer }

func (f *forward) CallEvent(ev b2bua.CallEvent)               { f.to.CallEvent(ev) }
func (f *forward) SupervisionEvent(ev b2bua.SupervisionEvent) { f.to.SupervisionEvent(ev) }
func (f *forward) QueueEvent(ev b2bua.QueueEvent)             { f.to.QueueEvent(ev) }
func (f *forward) AgentEvent(ev b2bua.AgentEvent)             { f.to.AgentEvent(ev) }
