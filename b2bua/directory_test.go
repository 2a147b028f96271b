package b2bua

import (
	"net/netip"
	"testing"
)

// testTenants is the directory the unit tests route through:
//
//	acme     domains acme.example, Acme.Test; trunk "wide" from 127.0.1.0/24
//	         and ::1/128; group sales (+15550100) with agents 1001-1003
//	globex   domain globex.example; trunk "narrow" from 127.0.1.5/32
//	initech  no domain (the fallback tenant), no trunk
func testTenants(st Strategy) []Tenant {
	return []Tenant{
		{
			Name:    "acme",
			Domains: []string{"acme.example", "Acme.Test"},
			Trunks: []Trunk{{Name: "wide", Outbound: "127.0.1.1:5060", Transport: "udp",
				Sources: []netip.Prefix{netip.MustParsePrefix("127.0.1.0/24"), netip.MustParsePrefix("::1/128")}}},
			Groups: []Group{{Name: "sales", Strategy: st,
				Numbers: []Number{{Number: "+15550100", Label: "Sales line"}},
				Agents:  []string{"1001", "1002", "1003"}}},
			Users: []User{
				{Extension: "1001", Name: "Alice", Role: "agent", Password: "pw1001"},
				{Extension: "1002", Name: "Bob", Role: "agent", Password: "pw1002"},
				{Extension: "1003", Name: "Carol", Role: "agent", Password: "pw1003"},
				{Extension: "1009", Name: "Sam", Role: "supervisor", Password: "pw1009"},
			},
		},
		{
			Name:    "globex",
			Domains: []string{"globex.example"},
			Trunks: []Trunk{{Name: "narrow", Outbound: "127.0.1.5:5060", Transport: "udp",
				Sources: []netip.Prefix{netip.MustParsePrefix("127.0.1.5/32")}}},
			Users: []User{{Extension: "1001", Name: "Gina", Password: "pwg"}},
		},
		{
			Name:  "initech",
			Users: []User{{Extension: "2001", Name: "Peter", Password: "pw2001"}},
		},
	}
}

func TestDirectoryTrunkFor(t *testing.T) {
	d := newDirectory(testTenants(RingAll))
	tests := []struct {
		addr          string
		tenant, trunk string
	}{
		{"127.0.1.7", "acme", "wide"},
		{"127.0.1.5", "globex", "narrow"}, // /32 beats the /24 that also holds it
		{"::ffff:127.0.1.5", "globex", "narrow"},
		{"::ffff:127.0.1.200", "acme", "wide"},
		{"::1", "acme", "wide"},
		{"127.0.0.1", "", ""},
		{"127.0.2.5", "", ""},
		{"::2", "", ""},
	}
	for _, tc := range tests {
		td, tr := d.trunkFor(netip.MustParseAddr(tc.addr))
		gotTenant, gotTrunk := "", ""
		if td != nil {
			gotTenant = td.name
		}
		if tr != nil {
			gotTrunk = tr.Name
		}
		if gotTenant != tc.tenant || gotTrunk != tc.trunk {
			t.Errorf("trunkFor(%s) = %q/%q, want %q/%q", tc.addr, gotTenant, gotTrunk, tc.tenant, tc.trunk)
		}
	}
}

func TestDirectoryTrunkForOrderIndependent(t *testing.T) {
	// The narrow prefix listed first must still win over a wide one after it.
	ts := testTenants(RingAll)
	ts[0], ts[1] = ts[1], ts[0]
	d := newDirectory(ts)
	if td, _ := d.trunkFor(netip.MustParseAddr("127.0.1.5")); td == nil || td.name != "globex" {
		t.Fatalf("got %v, want globex", td)
	}
}

func TestDirectoryTenantForDomain(t *testing.T) {
	d := newDirectory(testTenants(RingAll))
	tests := map[string]string{
		"acme.example":   "acme",
		"ACME.EXAMPLE":   "acme",
		"acme.test":      "acme", // configured as Acme.Test
		"globex.example": "globex",
		"unknown.org":    "initech",
		"":               "initech",
		"127.0.0.1":      "initech",
	}
	for dom, want := range tests {
		td := d.tenantForDomain(dom)
		if td == nil || td.name != want {
			t.Errorf("tenantForDomain(%q) = %v, want %s", dom, td, want)
		}
	}
}

func TestDirectoryNoFallback(t *testing.T) {
	d := newDirectory(testTenants(RingAll)[:2])
	if td := d.tenantForDomain("unknown.org"); td != nil {
		t.Fatalf("without a domainless tenant an unknown domain maps to %s", td.name)
	}
}

func TestDirectoryNumbersAndUsers(t *testing.T) {
	d := newDirectory(testTenants(RingAll))
	acme := d.tenants["acme"]
	nr, ok := acme.numbers["+15550100"]
	if !ok || nr.group.Name != "sales" || nr.label != "Sales line" {
		t.Fatalf("number route %+v %v", nr, ok)
	}
	if u := acme.users["1002"]; u == nil || u.Name != "Bob" {
		t.Fatalf("user 1002: %+v", u)
	}
	// Extensions are per tenant: globex's 1001 is another person.
	if u := d.tenants["globex"].users["1001"]; u == nil || u.Name != "Gina" {
		t.Fatalf("globex 1001: %+v", u)
	}
}

// Tenants behind one SBC: the dialled number, then the Request-URI host,
// then the configured header tell them apart; nothing decisive, nil.
func TestPickTenantBehindOneSBC(t *testing.T) {
	src := netip.MustParsePrefix("192.0.2.10/32")
	mk := func(name, domain, number, ext string) Tenant {
		return Tenant{Name: name, Domains: []string{domain},
			Trunks: []Trunk{{Name: "sbc", Sources: []netip.Prefix{src}}},
			Groups: []Group{{Name: "g", Numbers: []Number{{Number: number}, {Number: "777"}}}},
			Users:  []User{{Extension: ext}}}
	}
	d := newDirectory([]Tenant{mk("a", "a.example", "100", "1001"), mk("b", "b.example", "200", "2001")})
	ts := d.trunksFor(netip.MustParseAddr("192.0.2.10"))
	if len(ts) != 2 {
		t.Fatalf("%d trunks for the shared source", len(ts))
	}
	for _, tc := range []struct{ number, host, header, want string }{
		{"100", "", "", "a"},
		{"200", "192.0.2.1", "", "b"},
		{"2001", "", "", "b"},
		{"777", "B.example", "", "b"},
		{"777", "", "a", "a"},
		{"777", "", "", ""},
		{"999", "", "nobody", ""},
	} {
		got := ""
		if p := pickTenant(ts, tc.number, tc.host, tc.header); p != nil {
			got = p.tenant.name
		}
		if got != tc.want {
			t.Errorf("number %s host %q header %q: tenant %q, want %q", tc.number, tc.host, tc.header, got, tc.want)
		}
	}
}
