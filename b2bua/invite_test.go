package b2bua

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func TestSessionExpires(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  int
		ok    bool
	}{
		{"absent", nil, 0, false},
		{"plain", []string{"Session-Expires: 1800"}, 1800, true},
		{"with refresher", []string{"Session-Expires: 1800;refresher=uac"}, 1800, true},
		{"spaces", []string{"Session-Expires:   600 ; refresher=uas"}, 600, true},
		{"compact", []string{"x: 120;refresher=uas"}, 120, true},
		{"full name wins over compact", []string{"x: 120", "Session-Expires: 300"}, 300, true},
		{"lower case", []string{"session-expires: 95"}, 95, true},
		{"zero", []string{"Session-Expires: 0"}, 0, false},
		{"negative", []string{"Session-Expires: -90"}, 0, false},
		{"garbage", []string{"Session-Expires: soon"}, 0, false},
		{"params only", []string{"Session-Expires: ;refresher=uac"}, 0, false},
		{"overflow", []string{"Session-Expires: 99999999999999999999999"}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := sipRequest(t, "INVITE", "sip:1002@acme.example", tc.lines...)
			got, ok := sessionExpires(req)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("sessionExpires = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		code    int
		headers map[string]string
	}{
		{"plain", nil, 0, nil},
		{"supported extensions", []string{"Require: 100rel, timer", "Session-Expires: 90"}, 0, nil},
		{"two Require headers", []string{"Require: timer", "Require: 100rel"}, 0, nil},
		{"unknown extension", []string{"Require: precondition"}, 420, map[string]string{"Unsupported": "precondition"}},
		{"unknown among known", []string{"Require: timer, sec-agree"}, 420, map[string]string{"Unsupported": "sec-agree"}},
		{"interval too small", []string{"Session-Expires: 89"}, 422, map[string]string{"Min-SE": "90"}},
		{"compact interval too small", []string{"x: 30;refresher=uac"}, 422, map[string]string{"Min-SE": "90"}},
		{"Supported is not Require", []string{"Supported: precondition, foo"}, 0, nil},
	}
	s := newTestServer(t, Config{Tenants: testTenants(RingAll)}, newTestClock())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, hs := s.admit(sipRequest(t, "INVITE", "sip:1002@acme.example", tc.lines...))
			if code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			for name, want := range tc.headers {
				if got := headerValues(hs, name); !slices.Equal(got, []string{want}) {
					t.Errorf("%s %v, want [%s]", name, got, want)
				}
			}
		})
	}
}

func TestAdmitOverload(t *testing.T) {
	s := newTestServer(t, Config{Tenants: testTenants(RingAll), MaxCalls: 2, RetryAfter: 7 * time.Second}, newTestClock())
	req := sipRequest(t, "INVITE", "sip:1002@acme.example")
	check := func(want int) {
		t.Helper()
		code, _, hs := s.admit(req)
		if code != want {
			t.Fatalf("code %d, want %d", code, want)
		}
		if want == 503 && !slices.Equal(headerValues(hs, "Retry-After"), []string{"7"}) {
			t.Fatalf("Retry-After %v, want [7]", headerValues(hs, "Retry-After"))
		}
	}
	// The count admit reads is the one newCall and forget keep.
	file := func(id string) {
		s.mu.Lock()
		s.calls[id] = &Call{id: id}
		s.live.Store(int64(len(s.calls)))
		s.mu.Unlock()
	}
	file("a")
	check(0)
	file("b")
	check(503)
	s.forget(s.calls["b"])
	check(0)
	s.mu.Lock()
	s.draining.Store(true) // as Drain sets it
	s.mu.Unlock()
	check(503)
}

// classifyServer serves testTenants; 127.0.0.2 is no trunk's source.
func classifyServer(t testing.TB) (*Server, *testClock) {
	clk := newTestClock()
	return newTestServer(t, Config{Tenants: testTenants(RingAll)}, clk), clk
}

// invite is an initial INVITE to ruri from user@domain, from src.
func invite(t testing.TB, src, ruri, from string, lines ...string) *sip.Request {
	t.Helper()
	all := append([]string{"From: \"Caller\" <sip:" + from + ">;tag=abc", "To: <" + ruri + ">",
		"Contact: <sip:" + from + ";transport=udp>"}, lines...)
	req := sipRequest(t, "INVITE", ruri, all...)
	req.SetSource(src)
	return req
}

// authorize adds the credentials a phone computes for s's challenge.
func authorize(t testing.TB, s *Server, req *sip.Request, realm, user, password string, stale bool) {
	t.Helper()
	chal, err := digest.ParseChallenge(s.auth.challenges("WWW-Authenticate", realm, stale)[0].Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: req.Recipient.String(),
		Username: user, Password: password, Cnonce: "c0ffee", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
}

func TestClassifyFromTrunk(t *testing.T) {
	s, _ := classifyServer(t)
	tests := []struct {
		name, src, ruri string
		code            int
		kind            routeKind
		tenant, trunk   string
	}{
		{"business number", "127.0.1.7:5060", "sip:+15550100@127.0.0.1", 0, toGroup, "acme", "wide"},
		{"extension", "127.0.1.7:5060", "sip:1002@127.0.0.1", 0, toUser, "acme", "wide"},
		{"IPv6 loopback trunk", "[::1]:5060", "sip:1002@127.0.0.1", 0, toUser, "acme", "wide"},
		{"unknown number", "127.0.1.7:5060", "sip:+15559999@127.0.0.1", 404, 0, "", ""},
		{"other tenant's number", "127.0.1.5:5060", "sip:+15550100@127.0.0.1", 404, 0, "", ""},
		{"narrow trunk extension", "127.0.1.5:5060", "sip:1001@127.0.0.1", 0, toUser, "globex", "narrow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A trunk is trusted by source: no credentials are asked for.
			rt, code, _, _ := s.classify(invite(t, tc.src, tc.ruri, "+15551234@carrier.example"))
			if code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			if code != 0 {
				return
			}
			if rt.kind != tc.kind || rt.tenant.name != tc.tenant || rt.trunk.Name != tc.trunk ||
				!rt.fromTrunk || rt.direction != Inbound {
				t.Fatalf("route %+v", rt)
			}
			if rt.caller.Number != "+15551234" || rt.caller.Name != "Caller" {
				t.Errorf("caller %+v", rt.caller)
			}
		})
	}
	rt, _, _, _ := s.classify(invite(t, "127.0.1.7:5060", "sip:+15550100@127.0.0.1", "+15551234@carrier.example"))
	if rt.group == nil || rt.group.Name != "sales" || rt.label != "Sales line" || rt.number != "+15550100" {
		t.Fatalf("group route %+v", rt)
	}
}

func TestClassifyNeedsCredentials(t *testing.T) {
	s, clk := classifyServer(t)
	const src = "127.0.0.2:5060"

	_, code, _, _ := s.classify(invite(t, src, "sip:1002@acme.example", "7777@acme.example"))
	if code != 403 {
		t.Errorf("unknown user: %d, want 403", code)
	}

	_, code, _, hs := s.classify(invite(t, src, "sip:1002@acme.example", "1001@acme.example"))
	if code != 401 {
		t.Fatalf("no credentials: %d, want 401", code)
	}
	chs := headerValues(hs, "WWW-Authenticate")
	if len(chs) != 2 || !strings.Contains(chs[0], `realm="acme"`) || strings.Contains(chs[0], "stale=true") {
		t.Fatalf("challenges %v", chs)
	}

	req := invite(t, src, "sip:1002@acme.example", "1001@acme.example")
	authorize(t, s, req, "acme", "1001", "wrong", false)
	if _, code, _, _ = s.classify(req); code != 403 {
		t.Errorf("wrong password: %d, want 403", code)
	}

	// Another tenant's password for the same extension is wrong here.
	req = invite(t, src, "sip:1002@acme.example", "1001@acme.example")
	authorize(t, s, req, "acme", "1001", "pwg", false)
	if _, code, _, _ = s.classify(req); code != 403 {
		t.Errorf("globex password for acme 1001: %d, want 403", code)
	}

	req = invite(t, src, "sip:1002@acme.example", "1001@acme.example")
	authorize(t, s, req, "acme", "1001", "pw1001", false)
	clk.Advance(nonceLifetime + time.Second)
	_, code, _, hs = s.classify(req)
	if code != 401 || !strings.Contains(strings.Join(headerValues(hs, "WWW-Authenticate"), " "), "stale=true") {
		t.Errorf("stale nonce: %d %v, want 401 with stale=true", code, hs)
	}

	if _, code, _, _ = s.classify(sipRequest(t, "INVITE", "sip:1002@acme.example")); code != 400 {
		t.Errorf("INVITE without Contact: %d, want 400", code)
	}
}

func TestClassifyAuthenticated(t *testing.T) {
	s, _ := classifyServer(t)
	tests := []struct {
		name      string
		from, pw  string
		ruri      string
		code      int
		kind      routeKind
		direction Direction
	}{
		{"extension", "1001@acme.example", "pw1001", "sip:1002@acme.example", 0, toUser, Internal},
		{"domain case-insensitive", "1001@ACME.Example", "pw1001", "sip:1002@acme.example", 0, toUser, Internal},
		{"business number", "1009@acme.example", "pw1009", "sip:+15550100@acme.example", 0, toGroup, Internal},
		{"external number", "1001@acme.example", "pw1001", "sip:00442071234567@acme.example", 0, toTrunk, Outbound},
		{"feature code", "1009@acme.example", "pw1009", "sip:*31001@acme.example", 0, toSupervise, Internal},
		{"feature code by an agent", "1001@acme.example", "pw1001", "sip:*31002@acme.example", 403, 0, ""},
		{"unknown feature code", "1009@acme.example", "pw1009", "sip:*91001@acme.example", 404, 0, ""},
		{"feature code without extension", "1009@acme.example", "pw1009", "sip:*3@acme.example", 404, 0, ""},
		{"feature code for unknown agent", "1009@acme.example", "pw1009", "sip:*34321@acme.example", 404, 0, ""},
		{"own extension", "1001@acme.example", "pw1001", "sip:1001@acme.example", 486, 0, ""},
		{"no number", "1001@acme.example", "pw1001", "sip:acme.example", 404, 0, ""},
		{"fallback tenant without trunk", "2001@pbx.initech.example", "pw2001", "sip:0123456789@pbx.initech.example", 404, 0, ""},
		{"fallback tenant internal", "2001@other.example", "pw2001", "sip:2001@x", 486, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := invite(t, "127.0.0.2:5060", tc.ruri, tc.from)
			user, _, _ := strings.Cut(tc.from, "@")
			realm := s.dir.tenantForDomain(req.From().Address.Host).name
			authorize(t, s, req, realm, user, tc.pw, false)
			rt, code, _, _ := s.classify(req)
			if code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			if code != 0 {
				return
			}
			if rt.kind != tc.kind || rt.direction != tc.direction || rt.fromTrunk {
				t.Fatalf("route %+v", rt)
			}
			if rt.caller.Name != "Caller" {
				t.Errorf("caller name %q: the From display name should be kept", rt.caller.Name)
			}
			if rt.kind == toTrunk && (rt.trunk == nil || rt.trunk.Name != "wide") {
				t.Errorf("egress trunk %+v, want the tenant's first", rt.trunk)
			}
		})
	}
}

func TestClassifyCallerNameFromDirectory(t *testing.T) {
	s, _ := classifyServer(t)
	req := sipRequest(t, "INVITE", "sip:1002@acme.example",
		"From: <sip:1001@acme.example>;tag=a", "To: <sip:1002@acme.example>", "Contact: <sip:1001@127.0.0.2>")
	authorize(t, s, req, "acme", "1001", "pw1001", false)
	rt, code, _, _ := s.classify(req)
	if code != 0 || rt.caller.Name != "Alice" || rt.caller.Number != "1001" {
		t.Fatalf("code %d caller %+v, want Alice 1001", code, rt.caller)
	}
}

func BenchmarkClassifyTrunkInvite(b *testing.B) {
	s, _ := classifyServer(b)
	req := invite(b, "127.0.1.7:5060", "sip:+15550100@127.0.0.1", "+15551234@carrier.example")
	b.ReportAllocs()
	for b.Loop() {
		if _, code, _, _ := s.classify(req); code != 0 {
			b.Fatalf("code %d", code)
		}
	}
}

func TestHasTag(t *testing.T) {
	req := sipRequest(t, "INVITE", "sip:1002@acme.example",
		"Supported: replaces,  Timer", "Supported: 100rel", "Require: precondition")
	tests := []struct {
		name, tag string
		want      bool
	}{
		{"Supported", "timer", true}, // option tags compared without case, after trimming
		{"Supported", "100rel", true},
		{"Supported", "replaces", true},
		{"Supported", "precondition", false},
		{"Require", "precondition", true},
		{"Require", "100rel", false},
		{"Proxy-Require", "100rel", false},
	}
	for _, tc := range tests {
		if got := hasTag(req, tc.name, tc.tag); got != tc.want {
			t.Errorf("hasTag(%s, %s) = %v, want %v", tc.name, tc.tag, got, tc.want)
		}
	}
}
