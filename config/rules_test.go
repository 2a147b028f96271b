package config

import (
	"strings"
	"testing"
)

// ruleCase breaks one rule with one edit of baseYAML.
type ruleCase struct {
	name     string
	old, new string
	field    string // the exact field path reported
	at       string // text starting on the reported line; default: new
	msg      string // a fragment of the message
}

func TestRules(t *testing.T) {
	cases := []ruleCase{
		// log
		{name: "log format", old: "  format: text", new: "  format: xml", field: "log.format", msg: "must be one of text, json"},
		{name: "log level", old: "  level: info", new: "  level: loud", field: "log.level", msg: "must be one of debug, info, warn, error"},

		// sip listeners
		{name: "no listener", old: "  listen:\n    - transport: udp\n      address: 127.0.0.1:5060\n    - transport: tls\n      address: 127.0.0.1:5061\n      cert_file: cert.pem\n      key_file: key.pem\n",
			new: "  listen: []\n", field: "sip.listen", msg: "at least one listener"},
		{name: "listener transport", old: "    - transport: udp", new: "    - transport: sctp", field: "sip.listen[0].transport", msg: "must be one of udp, tcp, tls"},
		{name: "listener without transport", old: "    - transport: udp\n      address: 127.0.0.1:5060", new: "    - address: 127.0.0.1:5060", field: "sip.listen[0].transport", msg: "must be one of"},
		{name: "address without port", old: "      address: 127.0.0.1:5060\n", new: "      address: 127.0.0.1\n", field: "sip.listen[0].address", msg: "not host:port"},
		{name: "port too big", old: "      address: 127.0.0.1:5060", new: "      address: 127.0.0.1:70000", field: "sip.listen[0].address", msg: "0–65535"},
		{name: "port by name", old: "      address: 127.0.0.1:5060", new: "      address: 127.0.0.1:sip", field: "sip.listen[0].address", msg: "must be a number"},
		{name: "bad listener host", old: "      address: 127.0.0.1:5060", new: "      address: under_score:5060", field: "sip.listen[0].address", msg: "neither an IP address nor a valid host name"},
		{name: "tls without cert", old: "      cert_file: cert.pem\n", new: "", field: "sip.listen[1].cert_file", at: "    - transport: tls", msg: "required with transport tls"},
		{name: "tls without key", old: "      key_file: key.pem\n", new: "", field: "sip.listen[1].key_file", at: "    - transport: tls", msg: "required with transport tls"},
		{name: "cert on udp", old: "      address: 127.0.0.1:5060", new: "      address: 127.0.0.1:5060\n      cert_file: x.pem", field: "sip.listen[0].cert_file", at: "      cert_file: x.pem", msg: "only used with transport tls"},
		{name: "tcp and tls on one socket", old: "      key_file: key.pem\n", new: "      key_file: key.pem\n    - {transport: tcp, address: \"127.0.0.1:5061\"}\n",
			field: "sip.listen[2].address", at: "    - {transport: tcp", msg: "same tcp socket as sip.listen[1]"},
		{name: "advertised address", old: "  max_calls: 100", new: "  max_calls: 100\n  advertised_address: bad_host!", field: "sip.advertised_address", at: "  advertised_address: bad_host!", msg: "neither an IP"},

		// sip limits and timers
		{name: "max calls", old: "  max_calls: 100", new: "  max_calls: -1", field: "sip.max_calls", msg: "at least 1"},
		{name: "retry after", old: "  retry_after: 5s", new: "  retry_after: -5s", field: "sip.retry_after", msg: "greater than 0"},
		{name: "drain timeout", old: "  drain_timeout: 30s", new: "  drain_timeout: -1s", field: "sip.drain_timeout", msg: "greater than 0"},
		{name: "session expires", old: "  session_expires: 1800s", new: "  session_expires: 60s", field: "sip.session_expires", msg: "at least 1m30s"},
		{name: "transaction linger short", old: "  session_expires: 1800s", new: "  session_expires: 1800s\n  transaction_linger: 500ms", field: "sip.transaction_linger", at: "  transaction_linger: 500ms", msg: "between 1s and 32s"},
		{name: "transaction linger long", old: "  session_expires: 1800s", new: "  session_expires: 1800s\n  transaction_linger: 1m", field: "sip.transaction_linger", at: "  transaction_linger: 1m", msg: "between 1s and 32s"},
		{name: "registration min above max", old: "    min_expires: 60s", new: "    min_expires: 7200s", field: "sip.registration.min_expires", msg: "more than max_expires"},
		{name: "registration default below min", old: "    default_expires: 600s", new: "    default_expires: 30s", field: "sip.registration.default_expires", msg: "outside min_expires"},
		{name: "registration default above max", old: "    default_expires: 600s", new: "    default_expires: 2h", field: "sip.registration.default_expires", msg: "outside min_expires"},
		{name: "registration negative", old: "    max_expires: 3600s", new: "    max_expires: -1h", field: "sip.registration.max_expires", msg: "greater than 0"},
		{name: "max contacts", old: "    max_contacts: 5", new: "    max_contacts: -2", field: "sip.registration.max_contacts", msg: "at least 1"},

		// feature codes
		{name: "feature code twice", old: `    whisper: "*2"`, new: `    whisper: "*1"`, field: "sip.feature_codes.whisper", msg: "also sip.feature_codes.listen"},
		{name: "feature code chars", old: `    barge: "*3"`, new: `    barge: "*A"`, field: "sip.feature_codes.barge", msg: "digits, * and #"},
		{name: "feature code prefix", old: `    intercept: "*4"`, new: `    intercept: "*12"`, field: "sip.feature_codes.intercept", msg: "ambiguous"},
		{name: "digit feature code shadows extension", old: `    barge: "*3"`, new: `    barge: "9"`, field: "tenants[1].users[1].extension", at: `      - extension: "900"`, msg: "starts with feature code sip.feature_codes.barge"},

		// http, data, media
		{name: "http listen", old: "  listen: 127.0.0.1:8080", new: "  listen: localhost", field: "http.listen", msg: "not host:port"},
		{name: "session idle", old: "  listen: 127.0.0.1:8080", new: "  listen: 127.0.0.1:8080\n  session_idle_timeout: -1h", field: "http.session_idle_timeout", at: "  session_idle_timeout: -1h", msg: "must be positive"},
		{name: "session max age", old: "  listen: 127.0.0.1:8080", new: "  listen: 127.0.0.1:8080\n  session_max_age: 1h", field: "http.session_max_age", at: "  session_max_age: 1h", msg: "shorter than"},
		{name: "cors origin with a path", old: "  listen: 127.0.0.1:8080", new: "  listen: 127.0.0.1:8080\n  cors_origins: [\"https://a.example/x\"]", field: "http.cors_origins[0]", at: "  cors_origins: [\"https://a.example/x\"]", msg: "not an origin"},
		{name: "cors origin without scheme", old: "  listen: 127.0.0.1:8080", new: "  listen: 127.0.0.1:8080\n  cors_origins: [\"*\", a.example]", field: "http.cors_origins[1]", at: "  cors_origins: [\"*\", a.example]", msg: "not an origin"},
		{name: "http on a sip socket", old: "  listen: 127.0.0.1:8080", new: "  listen: 127.0.0.1:5061", field: "http.listen", msg: "same TCP socket as sip.listen[1]"},
		{name: "media address", old: "  address: 127.0.0.1\n", new: "  address: localhost\n", field: "media.address", at: "  address: localhost", msg: "must be an IP address"},
		{name: "media advertised", old: "  timeout: 60s", new: "  timeout: 60s\n  advertised_address: media.example", field: "media.advertised_address", at: "  advertised_address: media.example", msg: "must be an IP address"},
		{name: "port min low", old: "  port_min: 20000", new: "  port_min: 1000", field: "media.port_min", msg: "1024–65535"},
		{name: "port max high", old: "  port_max: 20099", new: "  port_max: 70000", field: "media.port_max", msg: "1024–65535"},
		{name: "port min odd", old: "  port_min: 20000", new: "  port_min: 20001", field: "media.port_min", msg: "must be even"},
		{name: "port min above max", old: "  port_min: 20000", new: "  port_min: 30000", field: "media.port_max", at: "  port_max: 20099", msg: "greater than port_min"},
		{name: "one port pair", old: "  port_min: 20000\n  port_max: 20099", new: "  port_min: 20096\n  port_max: 20098", field: "media.port_max", at: "  port_max: 20098", msg: "at least 2"},
		{name: "media timeout", old: "  timeout: 60s", new: "  timeout: -60s", field: "media.timeout", msg: "greater than 0"},
		{name: "media io_uring", old: "  timeout: 60s", new: "  timeout: 60s\n  io_uring: maybe", field: "media.io_uring", at: "  io_uring: maybe", msg: `"maybe" must be "auto", "off" or "on"`},
		{name: "media receive_threads", old: "  timeout: 60s", new: "  timeout: 60s\n  receive_threads: many", field: "media.receive_threads", at: "  receive_threads: many", msg: `"many" must be "dedicated" or "shared"`},
		{name: "audit retention", old: "data_dir: ./data", new: "data_dir: ./data\nretention:\n  audit: 30m", field: "retention.audit", at: "  audit: 30m", msg: "at least 1h0m0s"},
		{name: "gc percent low", old: "data_dir: ./data", new: "data_dir: ./data\nruntime:\n  gc_percent: 10", field: "runtime.gc_percent", at: "  gc_percent: 10", msg: "between 25 and 10000"},
		{name: "memory limit low", old: "data_dir: ./data", new: "data_dir: ./data\nruntime: {memory_limit_mib: 16}", field: "runtime.memory_limit_mib", at: "runtime: {memory_limit_mib: 16}", msg: "at least 64"},
		{name: "call history retention", old: "data_dir: ./data", new: "data_dir: ./data\nretention: {call_history: -1h}", field: "retention.call_history", at: "retention: {call_history: -1h}", msg: "statistics look one hour back"},

		// tenants
		{name: "no tenant", old: baseYAML[strings.Index(baseYAML, "tenants:"):], new: "tenants: []\n", field: "tenants", at: "tenants: []", msg: "at least one tenant"},
		{name: "tenant name empty", old: "  - name: globex\n", new: "  - name: \"\"\n", field: "tenants[1].name", msg: "required"},
		{name: "tenant name twice", old: "  - name: globex\n", new: "  - name: 'acme'\n", field: "tenants[1].name", msg: "also tenants[0]"},
		{name: "two fallback tenants", old: "    domains: [acme.example.com]\n", new: "", field: "tenants[1].domains", at: "  - name: globex\n", msg: "tenants[0] already does"},
		{name: "domain claimed twice", old: "  - name: globex\n", new: "  - name: globex\n    domains: [ACME.example.com]\n", field: "tenants[1].domains[0]", at: "    domains: [ACME", msg: "also claimed by tenants[0].domains[0]"},
		{name: "domain invalid", old: "    domains: [acme.example.com]", new: `    domains: ["bad domain"]`, field: "tenants[0].domains[0]", msg: "neither an IP"},

		// trunks
		{name: "trunk name twice", old: "        outbound: sip.globex.example:5060", new: "        outbound: sip.globex.example:5060\n      - {name: globex-carrier, sources: [198.51.100.8], outbound: \"198.51.100.8:5060\"}",
			field: "tenants[1].trunks[1].name", at: "      - {name: globex-carrier", msg: "also tenants[1].trunks[0]"},
		{name: "trunk name empty", old: "      - name: acme-carrier", new: "      - name: \"\"", field: "tenants[0].trunks[0].name", msg: "required"},
		{name: "trunk without sources", old: "        sources: [198.51.100.7]", new: "        sources: []", field: "tenants[1].trunks[0].sources", msg: "at least one source"},
		{name: "source not an IP", old: "        sources: [198.51.100.7]", new: "        sources: [198.51.100.300]", field: "tenants[1].trunks[0].sources[0]", msg: "not an IP address or CIDR"},
		{name: "source host bits", old: "        sources: [192.0.2.0/24]", new: "        sources: [192.0.2.1/24]", field: "tenants[0].trunks[0].sources[0]", msg: "did you mean 192.0.2.0/24"},
		// Trunks of two tenants may share a source (one SBC in front of
		// both); two trunks of one tenant may not.
		{name: "source twice in a tenant", old: "        sources: [198.51.100.7]\n", new: "        sources: [198.51.100.7]\n        outbound: 198.51.100.8:5060\n      - name: second\n        sources: [198.51.100.7/32]\n",
			at: "        sources: [198.51.100.7/32]", field: "tenants[1].trunks[1].sources[0]", msg: "also tenants[1].trunks[0].sources[0]"},
		{name: "bare IP is /32", old: "        sources: [198.51.100.7]", new: "        sources: [198.51.100.7, 198.51.100.7/32]", field: "tenants[1].trunks[0].sources[1]", msg: "198.51.100.7/32 is also tenants[1].trunks[0].sources[0]"},
		{name: "outbound missing", old: "        outbound: sip.globex.example:5060\n", new: "", field: "tenants[1].trunks[0].outbound", at: "      - name: globex-carrier", msg: "required"},
		{name: "outbound without host", old: "        outbound: 192.0.2.1:5060", new: `        outbound: ":5060"`, field: "tenants[0].trunks[0].outbound", msg: "has no host"},
		{name: "trunk transport", old: "        transport: udp", new: "        transport: tls", field: "tenants[0].trunks[0].transport", msg: "must be one of udp, tcp"},
		{name: "trunk username alone", old: "        transport: udp", new: "        transport: udp\n        username: acme", field: "tenants[0].trunks[0].password", at: "      - name: acme-carrier", msg: "set both or neither"},

		// groups
		{name: "group name twice", old: "        sla_threshold: 20s", new: "        sla_threshold: 20s\n      - {name: sales, numbers: [{number: \"777\"}]}", field: "tenants[0].groups[1].name", at: "      - {name: sales", msg: "also tenants[0].groups[0]"},
		{name: "group name empty", old: "      - name: help", new: `      - name: ""`, field: "tenants[1].groups[0].name", msg: "required"},
		{name: "group without numbers", old: "        numbers:\n          - number: \"500\"", new: "        numbers: []", field: "tenants[1].groups[0].numbers", msg: "at least one business number"},
		{name: "number chars", old: `          - number: "500"`, new: `          - number: "5-00"`, field: "tenants[1].groups[0].numbers[0].number", msg: "must be digits"},
		{name: "number plus inside", old: `          - number: "500"`, new: `          - number: "50+0"`, field: "tenants[1].groups[0].numbers[0].number", msg: "must be digits"},
		{name: "number in two groups", old: "        sla_threshold: 20s", new: "        sla_threshold: 20s\n      - {name: other, numbers: [{number: \"+15550100\"}]}", field: "tenants[0].groups[1].numbers[0].number", at: "      - {name: other", msg: "also tenants[0].groups[0].numbers[0].number"},
		{name: "number is an extension", old: `          - number: "500"`, new: `          - number: "900"`, field: "tenants[1].groups[0].numbers[0].number", msg: "also a user's extension"},
		{name: "agent unknown", old: `        agents: ["102"]`, new: `        agents: ["103"]`, field: "tenants[1].groups[0].agents[0]", msg: "no user with extension"},
		{name: "agent of another tenant", old: `        agents: ["101"]`, new: `        agents: ['102']`, field: "tenants[0].groups[0].agents[0]", msg: "no user with extension"},
		{name: "agent twice", old: `        agents: ["101"]`, new: `        agents: ["101", "101"]`, field: "tenants[0].groups[0].agents[1]", msg: "listed twice"},
		{name: "supervisor unknown", old: `        supervisors: ["201"]`, new: `        supervisors: ["299"]`, field: "tenants[0].groups[0].supervisors[0]", msg: "no user with extension"},
		{name: "supervisor is an agent", old: `        supervisors: ["201"]`, new: `        supervisors: ["101"]`, field: "tenants[0].groups[0].supervisors[0]", msg: "need role supervisor or admin"},
		{name: "strategy", old: "        strategy: round-robin", new: "        strategy: random", field: "tenants[0].groups[0].strategy", msg: "must be one of ring-all, round-robin, longest-idle"},
		{name: "ring timeout", old: "        ring_timeout: 15s", new: "        ring_timeout: -15s", field: "tenants[0].groups[0].ring_timeout", msg: "greater than 0"},
		{name: "sla threshold", old: "        sla_threshold: 20s", new: "        sla_threshold: -20s", field: "tenants[0].groups[0].sla_threshold", msg: "greater than 0"},

		// users
		{name: "extension chars", old: `      - extension: "900"`, new: `      - extension: "9a0"`, field: "tenants[1].users[1].extension", msg: "digits only"},
		{name: "extension twice", old: `      - extension: "900"`, new: `      - extension: '102'`, field: "tenants[1].users[1].extension", msg: "appears twice"},
		{name: "role", old: "        role: admin", new: "        role: root", field: "tenants[1].users[1].role", msg: "must be one of agent, supervisor, admin"},
		{name: "role missing", old: "        role: admin\n", new: "", field: "tenants[1].users[1].role", at: `      - extension: "900"`, msg: "must be one of"},
		{name: "password missing", old: "        password: pw-root\n", new: "", field: "tenants[1].users[1].password", at: `      - extension: "900"`, msg: "required"},
		{name: "token missing", old: "        token: tok-globex-900\n", new: "", field: "tenants[1].users[1].token", at: `      - extension: "900"`, msg: "required"},
		{name: "token short", old: "        token: tok-globex-900", new: "        token: tok-900", field: "tenants[1].users[1].token", msg: "at least 8 characters"},
		{name: "token with space", old: "        token: tok-globex-900", new: `        token: "tok globex 900"`, field: "tenants[1].users[1].token", msg: "without spaces"},
		{name: "token across tenants", old: "        token: tok-globex-900", new: "        token: 'tok-acme-201'", field: "tenants[1].users[1].token", msg: "same token as tenants[0].users[1]"},
		{name: "mode unknown", old: "        modes: [listen, whisper]", new: "        modes: [listen, spy]", field: "tenants[0].users[1].modes[1]", msg: "must be one of listen, whisper, barge, intercept"},
		{name: "mode twice", old: "        modes: [listen, whisper]", new: "        modes: [listen, listen]", field: "tenants[0].users[1].modes[1]", msg: "listed twice"},
		{name: "agent with modes", old: "        token: tok-acme-101", new: "        token: tok-acme-101\n        modes: [listen]", field: "tenants[0].users[0].modes", at: "        modes: [listen]\n", msg: "agents cannot supervise"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := edit(t, baseYAML, tc.old, tc.new)
			marker := tc.at
			if marker == "" {
				marker = tc.new
			}
			want := lineAt(t, doc, marker)
			ps := problems(t, "rules.yaml", doc)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(ps), (&Errors{Problems: ps}).Error())
			}
			p := ps[0]
			if p.File != "rules.yaml" || p.Field != tc.field || p.Line != want || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("got  %s\nwant rules.yaml:%d: %s: …%s…", p, want, tc.field, tc.msg)
			}
		})
	}
}

// Trunks of two tenants may share a source address: one SBC in front of
// both (the dialled number, the Request-URI host or sip.tenant_header
// tells whose call it is).
func TestSourceSharedAcrossTenants(t *testing.T) {
	doc := edit(t, baseYAML, "        sources: [198.51.100.7]", "        sources: [\"192.0.2.0/24\"]")
	if ps := problems(t, "rules.yaml", doc); len(ps) != 0 {
		t.Fatalf("a source shared by two tenants' trunks: %v", (&Errors{Problems: ps}).Error())
	}
}
