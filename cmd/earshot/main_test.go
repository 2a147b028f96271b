package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/config"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(out, "earshot ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errs := runCmd("frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("got %d %q", code, errs)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, config.DefaultYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmd("check-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good config: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	src := strings.Replace(string(config.DefaultYAML()), "strategy: ring-all", "strategy: ring-some", 1)
	src = strings.Replace(src, "max_calls: 1000", "max_calls: 0\n  max_cals: 3", 1)
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd("check-config", bad)
	if code != 1 {
		t.Fatalf("bad config exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) < 2 {
		t.Fatalf("want every problem reported, got %q", errs)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, bad+":") {
			t.Errorf("problem line %q is not file:line: field: problem", l)
		}
	}
	if !strings.Contains(errs, "strategy") || !strings.Contains(errs, "max_cals") {
		t.Errorf("problems not named: %q", errs)
	}
}

func TestServeRefusesDemoCredentialsOffLoopback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "exposed.yaml")
	src := strings.Replace(string(config.DefaultYAML()), "address: 127.0.0.1:5060", "address: 0.0.0.0:5060", 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd("serve", "-config", path)
	if code != 1 || !strings.Contains(errs, "demo") {
		t.Fatalf("serve with demo credentials on 0.0.0.0: exit %d %q", code, errs)
	}
}

// TestPrintConfig: `earshot config` prints the embedded default, which
// check-config accepts as it is.
func TestPrintConfig(t *testing.T) {
	code, out, errs := runCmd("config")
	if code != 0 || out != string(config.DefaultYAML()) {
		t.Fatalf("config: %d, %d bytes, stderr %q; want the embedded default", code, len(out), errs)
	}
	f := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd("check-config", f); code != 0 {
		t.Fatalf("check-config on the printed default: %d %q", code, errs)
	}
	if code, _, _ := runCmd("config", "extra"); code != 2 {
		t.Fatalf("config with an argument: %d, want 2", code)
	}
}
