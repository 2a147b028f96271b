package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStructure covers what the decoder reports before any rule runs:
// unknown and duplicate keys, wrong types, YAML syntax, several documents.
func TestStructure(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		field    string
		at       string
		msg      string
	}{
		{name: "unknown top-level key", old: "data_dir: ./data", new: "data_dir: ./data\nlogs: {}", field: "logs", at: "logs: {}", msg: "unknown key (did you mean \"log\"?)"},
		{name: "unknown nested key", old: "        password: pw-root", new: "        pasword: pw-root", field: "tenants[1].users[1].pasword", msg: `did you mean "password"?`},
		{name: "unknown key far from any", old: "  max_calls: 100", new: "  max_calls: 100\n  colour: blue", field: "sip.colour", at: "  colour: blue", msg: "expected one of listen, advertised_address"},
		{name: "duplicate key", old: "    intercept: \"*4\"", new: "    intercept: \"*4\"\n    listen: \"*9\"", field: "sip.feature_codes.listen", at: "    listen: \"*9\"", msg: "duplicate key (first at line 22)"},
		{name: "list for a string", old: "        role: admin", new: "        role: [admin]", field: "tenants[1].users[1].role", msg: "expected a string, got a list"},
		{name: "mapping for a list", old: "        sources: [192.0.2.0/24]", new: "        sources: {a: b}", field: "tenants[0].trunks[0].sources", msg: "expected a list, got a mapping"},
		{name: "scalar for a mapping", old: "log:\n  format: text\n  level: info\n", new: "log: verbose\n", field: "log", at: "log: verbose", msg: "expected a mapping of keys to values, got \"verbose\""},
		{name: "string for an int", old: "  max_calls: 100", new: "  max_calls: lots", field: "sip.max_calls", msg: `expected an integer, got "lots"`},
		{name: "quoted int", old: "  max_calls: 100", new: `  max_calls: "100"`, field: "sip.max_calls", msg: "expected an integer"},
		{name: "float for an int", old: "  port_min: 20000", new: "  port_min: 2.0e4", field: "media.port_min", msg: "expected an integer"},
		{name: "int out of range", old: "  max_calls: 100", new: "  max_calls: 99999999999999999999", field: "sip.max_calls", msg: "expected an integer"},
		{name: "int for a bool", old: "  - name: acme\n", new: "  - name: acme\n    barge_beep: 1\n", field: "tenants[0].barge_beep", at: "    barge_beep: 1", msg: "expected true or false"},
		{name: "bare number duration", old: "        ring_timeout: 15s", new: "        ring_timeout: 15", field: "tenants[0].groups[0].ring_timeout", msg: `invalid duration "15"`},
		{name: "word duration", old: "  drain_timeout: 30s", new: "  drain_timeout: thirty", field: "sip.drain_timeout", msg: `invalid duration "thirty"`},
		{name: "list duration", old: "  drain_timeout: 30s", new: "  drain_timeout: [30s]", field: "sip.drain_timeout", msg: "expected a duration"},
		{name: "control character", old: "        name: Bob", new: `        name: "Bob\r\nVia: evil"`, field: "tenants[1].users[0].name", msg: "control characters"},
		{name: "custom tag", old: "        name: Bob", new: "        name: !secret bob", field: "tenants[1].users[0].name", msg: "unsupported YAML tag"},
		{name: "merge key", old: "      - name: help\n", new: "      - name: help\n        <<: {strategy: ring-all}\n", field: `tenants[1].groups[0]."<<"`, at: "        <<:", msg: "merge keys"},
		{name: "non-scalar key", old: "data_dir: ./data", new: "data_dir: ./data\n? [a]\n: b", field: "", at: "? [a]", msg: "keys must be plain names"},
		{name: "syntax error", old: "  level: info", new: "  level: info\n    oops: [", field: "", at: "    oops: [", msg: "YAML syntax"},
		{name: "two documents", old: "data_dir: ./data", new: "data_dir: ./data\n---\nlog: {}", field: "", at: "---\nlog: {}", msg: "more than one YAML document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := edit(t, baseYAML, tc.old, tc.new)
			marker := tc.at
			if marker == "" {
				marker = tc.new
			}
			want := lineAt(t, doc, marker)
			ps := problems(t, "s.yaml", doc)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(ps), (&Errors{Problems: ps}).Error())
			}
			p := ps[0]
			if p.Field != tc.field || p.Line != want || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("got  %s\nwant s.yaml:%d: %s: …%s…", p, want, tc.field, tc.msg)
			}
		})
	}
}

// TestMalformedValueHidesItsRuleProblems checks that a value of the wrong
// type is reported once, not again by the rule for that field.
func TestMalformedValueHidesItsRuleProblems(t *testing.T) {
	doc := edit(t, baseYAML, "  listen:\n    - transport: udp", "  listen: 5060\n  old_listen:\n    - transport: udp")
	ps := problems(t, "m.yaml", doc)
	var fields []string
	for _, p := range ps {
		fields = append(fields, p.Field)
	}
	// sip.listen is malformed ("at least one listener" is not repeated);
	// old_listen is unknown and not descended into.
	want := []string{"sip.listen", "sip.old_listen"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Fatalf("fields %v, want %v:\n%s", fields, want, (&Errors{Problems: ps}).Error())
	}
}

func TestEmptyFile(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		ps := problems(t, "e.yaml", doc)
		got := (&Errors{Problems: ps}).Error()
		for _, want := range []string{"sip.listen: at least one listener", "tenants: at least one tenant"} {
			if !strings.Contains(got, want) {
				t.Errorf("%q: missing %q in:\n%s", doc, want, got)
			}
		}
	}
}

func TestTopLevelNotMapping(t *testing.T) {
	ps := problems(t, "t.yaml", "\n- a\n- b\n")
	if len(ps) != 1 || ps[0].Line != 2 || !strings.Contains(ps[0].Msg, "top of the file, got a list") {
		t.Fatalf("got %v", ps)
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	doc := edit(t, baseYAML, "        modes: [listen, whisper]", "        modes: &m [listen, whisper]")
	doc = edit(t, doc, "        token: tok-globex-900", "        token: tok-globex-900\n        modes: *m")
	cfg, err := Parse("a.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Tenants[1].Users[1].Modes; strings.Join(got, ",") != "listen,whisper" {
		t.Fatalf("modes through alias = %v", got)
	}
}

// TestAliasBomb: a few kilobytes of nested aliases must not expand into
// billions of nodes; decoding stops at maxNodes and says so.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("tenants:\n  - name: t\n    users:\n      - &u {extension: \"1\", role: admin, password: p, token: tokentoken, modes: &m [listen, whisper, barge, intercept, listen, whisper, barge, intercept]}\n")
	b.WriteString("  - &t {name: x, users: &us [")
	for range 1000 {
		b.WriteString("*u, ")
	}
	b.WriteString("]}\n")
	for range 150 {
		b.WriteString("  - *t\n")
	}
	ps := problems(t, "many.yaml", b.String())
	got := (&Errors{Problems: ps}).Error()
	if !strings.Contains(got, "document too large") {
		t.Fatalf("no size problem among %d problems", len(ps))
	}
	if len(ps) > maxProblems+1 {
		t.Fatalf("%d problems, want at most %d", len(ps), maxProblems+1)
	}
}

func TestProblemCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("tenants:\n")
	for range maxProblems + 10 {
		b.WriteString("  - {name: x, nosuchkey: 1}\n")
	}
	ps := problems(t, "cap.yaml", b.String())
	if len(ps) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d", len(ps), maxProblems+1)
	}
	if last := ps[len(ps)-1]; !strings.Contains(last.Msg, "too many problems") {
		t.Fatalf("last problem %q", last)
	}
}

// TestManyProblems checks that one run reports every problem, in file
// order, rendered one per line.
func TestManyProblems(t *testing.T) {
	doc := edit(t, baseYAML, "  format: text", "  format: xml")
	doc = edit(t, doc, "  port_min: 20000", "  port_min: 20001")
	doc = edit(t, doc, "        strategy: round-robin", "        strategy: random")
	doc = edit(t, doc, "  - name: globex\n", "  - name: globex\n    color: red\n")
	want := strings.Join([]string{
		fmt.Sprintf("many.yaml:%d: log.format: must be one of text, json", lineAt(t, doc, "  format: xml")),
		fmt.Sprintf("many.yaml:%d: media.port_min: 20001 must be even (RTP even, RTCP odd)", lineAt(t, doc, "  port_min: 20001")),
		fmt.Sprintf("many.yaml:%d: tenants[0].groups[0].strategy: must be one of ring-all, round-robin, longest-idle", lineAt(t, doc, "        strategy: random")),
		fmt.Sprintf("many.yaml:%d: tenants[1].color: unknown key; expected one of name, domains, trunks, groups, users, notify_agent_on_monitor, barge_beep, hold_music, transfer_detaches_supervisors, pause_reasons", lineAt(t, doc, "    color: red")),
	}, "\n")
	_, err := Parse("many.yaml", []byte(doc))
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestDefaultsFilled(t *testing.T) {
	doc := `sip:
  listen:
    - {transport: udp, address: "127.0.0.1:5060"}
tenants:
  - name: t
    trunks:
      - {name: c, sources: [192.0.2.1], outbound: "192.0.2.1:5060"}
    groups:
      - {name: g, numbers: [{number: "1"}]}
`
	cfg, err := Parse("d.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"log", cfg.Log, want.Log},
		{"http.listen", cfg.HTTP.Listen, want.HTTP.Listen},
		{"http.session_idle_timeout", cfg.HTTP.SessionIdleTimeout.D(), 8 * time.Hour},
		{"http.session_max_age", cfg.HTTP.SessionMaxAge.D(), 12 * time.Hour},
		{"http.cors_origins", len(cfg.HTTP.CORSOrigins), 0},
		{"data_dir", cfg.DataDir, want.DataDir},
		{"media", fmt.Sprintf("%+v", cfg.Media), fmt.Sprintf("%+v", want.Media)},
		{"sip.registration", cfg.SIP.Registration, want.SIP.Registration},
		{"sip.feature_codes", cfg.SIP.FeatureCodes, want.SIP.FeatureCodes},
		{"sip.max_calls", cfg.SIP.MaxCalls, 1000},
		{"sip.retry_after", cfg.SIP.RetryAfter.D(), 5 * time.Second},
		{"sip.drain_timeout", cfg.SIP.DrainTimeout.D(), 30 * time.Second},
		{"sip.session_expires", cfg.SIP.SessionExpires.D(), 1800 * time.Second},
		{"sip.transaction_linger", cfg.SIP.TransactionLinger.D(), 5 * time.Second},
		{"sip.user_agent", cfg.SIP.UserAgent, "earshot"},
		{"trunk transport", cfg.Tenants[0].Trunks[0].Transport, "udp"},
		{"strategy", cfg.Tenants[0].Groups[0].Strategy, "ring-all"},
		{"ring_timeout", cfg.Tenants[0].Groups[0].RingTimeout.D(), 30 * time.Second},
		{"sla_threshold", cfg.Tenants[0].Groups[0].SLAThreshold.D(), 20 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
	if cfg.Media.Address != "127.0.0.1" || cfg.HTTP.Listen != "127.0.0.1:8080" || cfg.DataDir != "./data" {
		t.Errorf("defaults not the documented ones: %+v %+v %q", cfg.Media, cfg.HTTP.Listen, cfg.DataDir)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "earshot.yaml")
	doc := edit(t, baseYAML, "        strategy: round-robin", "        strategy: random")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := fmt.Sprintf("%s:%d: tenants[0].groups[0].strategy", path, lineAt(t, doc, "        strategy: random")) + ": must be one of ring-all, round-robin, longest-idle"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestProblemString(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{"f.yaml", 3, "log.level", "bad"}, "f.yaml:3: log.level: bad"},
		{Problem{"f.yaml", 0, "log.level", "bad"}, "f.yaml: log.level: bad"},
		{Problem{"f.yaml", 7, "", "YAML syntax: x"}, "f.yaml:7: YAML syntax: x"},
		{Problem{"", 0, "tenants", "bad"}, "tenants: bad"},
		{Problem{"", 4, "tenants", "bad"}, "line 4: tenants: bad"},
	}
	for _, c := range cases {
		if got := c.p.String(); got != c.want {
			t.Errorf("%#v: got %q, want %q", c.p, got, c.want)
		}
	}
}
