package b2bua

import (
	"bytes"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestPeerSet(t *testing.T) {
	trunk := &Trunk{Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/29")}}
	for _, tc := range []struct {
		name  string
		set   peerSet
		src   string
		allow bool
	}{
		{"the creating request's source", peerSet{ips: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, "192.0.2.7:5060", true},
		{"another port of it (TCP reconnect)", peerSet{ips: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, "192.0.2.7:40112", true},
		{"a stranger", peerSet{ips: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, "192.0.2.8:5060", false},
		{"another node of the trunk", peerSet{ips: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, trunk: trunk}, "198.51.100.6:5060", true},
		{"outside the trunk", peerSet{trunk: trunk}, "198.51.100.9:5060", false},
		{"an IPv4-mapped source", peerSet{ips: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, "[::ffff:192.0.2.7]:5060", true},
		{"an empty set", peerSet{}, "192.0.2.7:5060", false},
		{"no source", peerSet{ips: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, "", false},
	} {
		if got := tc.set.allows(tc.src); got != tc.allow {
			t.Errorf("%s: allows(%q) = %v, want %v", tc.name, tc.src, got, tc.allow)
		}
	}
	var p peerSet
	p.add("192.0.2.7:5060")
	p.add("192.0.2.7:5061")
	p.add("carrier.example:5060") // not an IP: adds nothing
	if len(p.ips) != 1 {
		t.Fatalf("ips %v, want one", p.ips)
	}
}

// TestSecurityLogLineMatchesFail2ban checks that the refusal line matches
// the filter docs/security.md gives, with the source address as the host.
func TestSecurityLogLineMatchesFail2ban(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&buf, nil)).With("component", "b2bua"), stats: newSIPStats()}
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "100", Host: "192.0.2.1"})
	req.SetSource("203.0.113.9:5062")
	s.securityRefuse(RefusedDialogPeer, req, "call-1")

	// fail2ban's <HOST> stands for an address; the filter line as documented.
	failregex := `msg="security: request refused" .*\bsrc=<HOST>\b`
	re := regexp.MustCompile(strings.Replace(failregex, "<HOST>", `(?P<host>[0-9a-fA-F.:]+)`, 1))
	m := re.FindStringSubmatch(buf.String())
	if m == nil || m[1] != "203.0.113.9" {
		t.Fatalf("log line %q does not match %s (got %v)", buf.String(), failregex, m)
	}
	if n := s.stats.refused["dialog_peer"]; n != 1 {
		t.Fatalf("refused = %d", n)
	}
}
