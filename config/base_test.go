package config

import (
	"errors"
	"strings"
	"testing"
)

// baseYAML is a small valid two-tenant configuration with every section
// written out. Rule tests change one line of it and expect exactly one
// problem, so every line a test points at must be unique in the text.
const baseYAML = `log:
  format: text
  level: info
sip:
  listen:
    - transport: udp
      address: 127.0.0.1:5060
    - transport: tls
      address: 127.0.0.1:5061
      cert_file: cert.pem
      key_file: key.pem
  max_calls: 100
  retry_after: 5s
  drain_timeout: 30s
  session_expires: 1800s
  registration:
    min_expires: 60s
    max_expires: 3600s
    default_expires: 600s
    max_contacts: 5
  feature_codes:
    listen: "*1"
    whisper: "*2"
    barge: "*3"
    intercept: "*4"
http:
  listen: 127.0.0.1:8080
data_dir: ./data
media:
  address: 127.0.0.1
  port_min: 20000
  port_max: 20099
  timeout: 60s
tenants:
  - name: acme
    domains: [acme.example.com]
    trunks:
      - name: acme-carrier
        sources: [192.0.2.0/24]
        outbound: 192.0.2.1:5060
        transport: udp
    groups:
      - name: sales
        numbers:
          - number: "+15550100"
            label: Sales
        agents: ["101"]
        supervisors: ["201"]
        strategy: round-robin
        ring_timeout: 15s
        sla_threshold: 20s
    users:
      - extension: "101"
        name: Ann
        role: agent
        password: pw-ann
        token: tok-acme-101
      - extension: "201"
        name: Sam
        role: supervisor
        password: pw-sam
        token: tok-acme-201
        modes: [listen, whisper]
  - name: globex
    trunks:
      - name: globex-carrier
        sources: [198.51.100.7]
        outbound: sip.globex.example:5060
    groups:
      - name: help
        numbers:
          - number: "500"
        agents: ["102"]
    users:
      - extension: "102"
        name: Bob
        role: agent
        password: pw-bob
        token: tok-globex-102
      - extension: "900"
        role: admin
        password: pw-root
        token: tok-globex-900
`

// edit returns doc with old replaced by new, failing the test unless old
// occurs exactly once.
func edit(t *testing.T, doc, old, new string) string {
	t.Helper()
	if n := strings.Count(doc, old); n != 1 {
		t.Fatalf("edit: %q occurs %d times in the document, want 1", old, n)
	}
	return strings.Replace(doc, old, new, 1)
}

// lineAt returns the 1-based line on which marker starts, failing the test
// unless marker occurs exactly once.
func lineAt(t *testing.T, doc, marker string) int {
	t.Helper()
	if n := strings.Count(doc, marker); n != 1 {
		t.Fatalf("lineAt: %q occurs %d times in the document, want 1", marker, n)
	}
	return strings.Count(doc[:strings.Index(doc, marker)], "\n") + 1
}

// problems parses doc and returns its problems; it fails the test if the
// error is not an *Errors.
func problems(t *testing.T, name, doc string) []Problem {
	t.Helper()
	cfg, err := Parse(name, []byte(doc))
	if err == nil {
		if cfg == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		return nil
	}
	if cfg != nil {
		t.Errorf("Parse returned a config along with an error")
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T, want *Errors: %v", err, err)
	}
	return errs.Problems
}

func TestBaseIsValid(t *testing.T) {
	if ps := problems(t, "base.yaml", baseYAML); len(ps) != 0 {
		t.Fatalf("base config has problems:\n%v", (&Errors{Problems: ps}).Error())
	}
}
