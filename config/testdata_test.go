package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleFiles loads every shared example: valid-*.yaml must load and
// pass CheckSafety, invalid-*.yaml must fail with exactly the problems in
// the .errors file beside it.
func TestExampleFiles(t *testing.T) {
	dir := filepath.Join("..", "testdata", "config")
	valid, _ := filepath.Glob(filepath.Join(dir, "valid-*.yaml"))
	invalid, _ := filepath.Glob(filepath.Join(dir, "invalid-*.yaml"))
	if len(valid) == 0 || len(invalid) == 0 {
		t.Fatalf("examples missing: %v %v", valid, invalid)
	}
	for _, path := range valid {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.CheckSafety(); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, path := range invalid {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".errors")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(path), data)
			if err == nil {
				t.Fatal("parsed without error")
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestMultiTenantExample(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "testdata", "config", "valid-multitenant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tenants) != 2 || len(cfg.NonLoopbackListeners()) == 0 || cfg.DemoCredentials() {
		t.Fatalf("example is not the multi-tenant LAN setup it claims to be")
	}
	g := cfg.Tenants[1].Groups[0]
	if g.Strategy != StrategyRingAll || g.RingTimeout.D().Seconds() != 30 {
		t.Errorf("defaults not filled in a group: %+v", g)
	}
	sup := cfg.Tenants[0].Users[3]
	if got := cfg.UserModes(sup); strings.Join(got, ",") != "listen,whisper" {
		t.Errorf("modes %v", got)
	}
}

// TestDocsExample: the complete example in docs/config.md is the shared
// example file, word for word, so the documented example always parses.
func TestDocsExample(t *testing.T) {
	doc := readDocs(t)
	example, err := os.ReadFile(filepath.Join("..", "testdata", "config", "valid-multitenant.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "```yaml\n"+string(example)+"```\n") {
		t.Error("docs/config.md does not hold testdata/config/valid-multitenant.yaml as its complete example")
	}
}

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
