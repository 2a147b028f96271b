package interop

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// registerAgents has sipp register each of exts itself, from ip:port,
// answering earshot's digest challenge (testdata/agent_register.xml), and
// checks that every registration succeeded and that earshot holds the
// bindings. A phone started afterwards on ip:port (sipp agent_uas.xml)
// receives the calls: earshot sends them to the address a REGISTER came
// from, so the registering and the answering process may be two runs on one
// port.
func registerAgents(t *testing.T, e *earshot, ip string, port int, exts []string, password string) {
	t.Helper()
	before := e.metric(t, "earshot_registrations")
	for _, ext := range exts {
		dir := t.TempDir()
		reg := startSipp(t, "register", dir, "-sf", localScenario(t, "agent_register.xml"),
			"-s", ext, "-au", ext, "-ap", password,
			"-i", ip, "-p", strconv.Itoa(port), "-t", "u1", "-m", "1", e.SIP)
		if code := reg.wait(t, 15*time.Second); code != 0 {
			t.Fatalf("sipp registering %s exited %d, want 0\n%s", ext, code, tail(reg.out.String(), 3000))
		}
		if ok := reg.count(t, "SuccessfulCall(C)"); ok != 1 {
			t.Fatalf("sipp registering %s: %d successful registrations, want 1", ext, ok)
		}
	}
	if got := e.metric(t, "earshot_registrations") - before; got != float64(len(exts)) {
		t.Fatalf("earshot_registrations grew by %v after sipp registered %d agents", got, len(exts))
	}
}

// localScenario is the path of a scenario kept beside these tests.
func localScenario(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
