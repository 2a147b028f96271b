package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// Tokens of the test configuration.
const (
	tokAgent      = "acme-agent-1001"
	tokAgent2     = "acme-agent-1002"
	tokSup        = "acme-super-2001"
	tokSup2       = "acme-super-2002"
	tokAdmin      = "acme-admin-9000"
	tokOtherSup   = "zeta-super-2001"
	tokOtherAgent = "zeta-agent-1001"
)

// testTenants has two tenants with the same extensions, so that isolation
// rests on the token, not on the extension.
func testTenants() []b2bua.Tenant {
	sla := 20 * time.Second
	return []b2bua.Tenant{
		{Name: "acme",
			Groups: []b2bua.Group{{Name: "support", Numbers: []b2bua.Number{{Number: "100", Label: "Support"}},
				Agents: []string{"1001", "1002"}, Supervisors: []string{"2001"}, SLAThreshold: sla},
				{Name: "sales", Numbers: []b2bua.Number{{Number: "200"}}, Agents: []string{"1002"}, SLAThreshold: sla}},
			Users: []b2bua.User{
				{Extension: "1001", Role: "agent", Token: tokAgent},
				{Extension: "1002", Role: "agent", Token: tokAgent2},
				{Extension: "2001", Role: "supervisor", Token: tokSup},
				{Extension: "2002", Role: "supervisor", Token: tokSup2},
				{Extension: "9000", Role: "admin", Token: tokAdmin},
			}},
		{Name: "zeta",
			Groups: []b2bua.Group{{Name: "support", Numbers: []b2bua.Number{{Number: "100"}},
				Agents: []string{"1001"}, Supervisors: []string{"2001"}, SLAThreshold: sla}},
			Users: []b2bua.User{
				{Extension: "1001", Role: "agent", Token: tokOtherAgent},
				{Extension: "2001", Role: "supervisor", Token: tokOtherSup},
			}},
	}
}

// fakeSwitch is a Switchboard in memory; the wire is not the point of the
// handler tests.
type fakeSwitch struct {
	mu sync.Mutex
	// calls are published as b2bua.Server does: a change is a new
	// snapshot, never an edit of one handed out.
	calls map[string]*b2bua.CallSnapshot
	sups  map[string]b2bua.SupervisionSnapshot
	err   error // returned by the next command, then cleared
	n     int
}

func newFakeSwitch() *fakeSwitch {
	return &fakeSwitch{calls: map[string]*b2bua.CallSnapshot{}, sups: map[string]b2bua.SupervisionSnapshot{}}
}

func (f *fakeSwitch) add(c b2bua.CallSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[c.ID] = &c
}

func (f *fakeSwitch) failNext(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSwitch) takeErr() error {
	err := f.err
	f.err = nil
	return err
}

func (f *fakeSwitch) Calls() []b2bua.CallSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]b2bua.CallSnapshot, 0, len(f.calls))
	for _, c := range f.calls {
		out = append(out, *c)
	}
	return out
}

// AppendCalls is what b2bua.Server offers the call list.
func (f *fakeSwitch) AppendCalls(dst []*b2bua.CallSnapshot) []*b2bua.CallSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		dst = append(dst, c)
	}
	return dst
}

func (f *fakeSwitch) Call(id string) (b2bua.CallSnapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[id]
	if !ok {
		return b2bua.CallSnapshot{}, false
	}
	return *c, true
}

func (f *fakeSwitch) Supervise(tenant, supervisor, callID string, mode b2bua.Mode, _ b2bua.Device) (b2bua.SupervisionSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeErr(); err != nil {
		return b2bua.SupervisionSnapshot{}, err
	}
	c, ok := f.calls[callID]
	if !ok || c.Tenant != tenant {
		return b2bua.SupervisionSnapshot{}, b2bua.ErrCallNotFound
	}
	f.n++
	sp := b2bua.SupervisionSnapshot{ID: fmt.Sprintf("sup%d", f.n), CallID: callID, Tenant: tenant, Supervisor: supervisor,
		Agent: c.Agents[0], Mode: mode, State: b2bua.SupRinging, Via: b2bua.ViaAPI, StartedAt: time.Now()}
	f.sups[sp.ID] = sp
	return sp, nil
}

func (f *fakeSwitch) SetSupervisionMode(tenant, supervisor, id string, mode b2bua.Mode) (b2bua.SupervisionSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeErr(); err != nil {
		return b2bua.SupervisionSnapshot{}, err
	}
	sp, ok := f.sups[id]
	if !ok || sp.Tenant != tenant || sp.Supervisor != supervisor {
		return b2bua.SupervisionSnapshot{}, b2bua.ErrSupervisionGone
	}
	sp.Mode = mode
	f.sups[id] = sp
	return sp, nil
}

func (f *fakeSwitch) EndSupervision(tenant, supervisor, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeErr(); err != nil {
		return err
	}
	sp, ok := f.sups[id]
	if !ok || sp.Tenant != tenant || sp.Supervisor != supervisor {
		return b2bua.ErrSupervisionGone
	}
	delete(f.sups, id)
	return nil
}

func (f *fakeSwitch) Pick(tenant, ext, callID string) error   { return b2bua.ErrNotQueued }
func (f *fakeSwitch) Move(tenant, callID, group string) error { return b2bua.ErrNotQueued }
func (f *fakeSwitch) Transfer(tenant, actor, callID, number string) error {
	return b2bua.ErrCallNotAnswered
}

func (f *fakeSwitch) Supervision(id string) (b2bua.SupervisionSnapshot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sp, ok := f.sups[id]
	return sp, ok
}

// fixture is a service on a real bbolt file in a temporary directory.
type fixture struct {
	t   testing.TB
	svc *Service
	sw  *fakeSwitch
	dir string
	// clock is the services' time, read by their background goroutines
	// (pruner, worker) while the test moves it: atomic.
	clock atomic.Int64
	h     http.Handler
	// mod, when set before open, adjusts the service's Config.
	mod func(*Config)
}

func (f *fixture) now() time.Time { return time.Unix(0, f.clock.Load()).UTC() }

func (f *fixture) setNow(t time.Time) { f.clock.Store(t.UnixNano()) }

// t0 is the fixed clock of the tests.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureMod(t, nil)
}

// newFixtureWith is newFixture whose service notifies phones.
func newFixtureWith(t testing.TB, phones Notifier) *fixture {
	return newFixtureMod(t, func(c *Config) { c.Phones = phones })
}

// newFixtureMod is newFixture with mod applied to the service's Config.
func newFixtureMod(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, sw: newFakeSwitch(), dir: t.TempDir(), mod: mod}
	f.setNow(t0)
	f.open()
	// Two answered calls in acme (agents 1001 and 1002) and one in zeta.
	f.sw.add(call("c1", "acme", "support", "100", "1001", b2bua.StateAnswered))
	f.sw.add(call("c2", "acme", "sales", "200", "1002", b2bua.StateAnswered))
	f.sw.add(call("z1", "zeta", "support", "100", "1001", b2bua.StateAnswered))
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	cfg := Config{Tenants: testTenants(), DataDir: f.dir, Switchboard: f.sw, Now: f.now, ListenCode: "*1"}
	if f.mod != nil {
		f.mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc, f.h = svc, svc.Handler()
	f.t.Cleanup(func() { svc.Close() })
	// The pruner's pass at start reads the clock: done before a test
	// moves it.
	select {
	case <-svc.startPruned:
	case <-time.After(10 * time.Second):
		f.t.Fatal("the pruner's pass at start did not end")
	}
}

func call(id, tenant, group, number, agent string, state b2bua.CallState) b2bua.CallSnapshot {
	c := b2bua.CallSnapshot{ID: id, Tenant: tenant, Direction: b2bua.Inbound, Group: group, Number: number,
		Caller: b2bua.Party{Number: "+15550100"}, Agents: []string{agent}, State: state, StartedAt: t0.Add(-time.Minute)}
	if state == b2bua.StateAnswered {
		c.AnsweredAt = t0.Add(-50 * time.Second)
	}
	return c
}

// resp is a recorded response.
type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json body and checks its status and field.
func (r resp) problem(t testing.TB, status int, field string) Problem {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d: %s", r.code, status, r.body)
	}
	if ct := r.hdr.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	var p Problem
	r.decode(t, &p)
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem %+v", p)
	}
	if field != "" && (len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != field || !strings.Contains(p.Detail, field)) {
		t.Fatalf("problem does not name %q: %+v", field, p)
	}
	return p
}

func (f *fixture) do(method, path, token, body string) resp {
	f.t.Helper()
	return f.doHdr(method, path, token, body, nil)
}

func (f *fixture) doHdr(method, path, token, body string, hdr map[string]string) resp {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return resp{code: w.Code, hdr: w.Header(), body: bytes.Clone(w.Body.Bytes())}
}

// must checks the status of a call that is not the point of the test.
func (f *fixture) must(status int, method, path, token, body string) resp {
	f.t.Helper()
	r := f.do(method, path, token, body)
	if r.code != status {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.code, status, r.body)
	}
	return r
}

// openHelp opens a help request on c1 as agent 1001 and returns it.
func (f *fixture) openHelp() HelpRequest {
	f.t.Helper()
	var h HelpRequest
	f.must(201, "POST", "/api/v1/help-requests", tokAgent, `{"call_id":"c1","reason":"angry customer"}`).decode(f.t, &h)
	return h
}
