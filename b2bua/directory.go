package b2bua

import (
	"net/netip"
	"slices"
	"strings"
)

// directory answers the static questions of routing: which tenant a domain
// or a trunk source belongs to, who a user is, which group owns a number.
// It is built once from Config and read without locks.
type directory struct {
	tenants  map[string]*tenantDir
	byDomain map[string]*tenantDir
	fallback *tenantDir
	trunks   []trunkSource
}

type tenantDir struct {
	name    string
	trunks  []*Trunk
	users   map[string]*User
	numbers map[string]numberRoute
	groups  map[string]*Group
	// pauseReasons number the reasons of the pause feature code.
	pauseReasons []string
	domains      []string // lower-cased
}

type numberRoute struct {
	group    *Group
	label    string
	priority int
}

type trunkSource struct {
	prefix netip.Prefix
	tenant *tenantDir
	trunk  *Trunk
}

func newDirectory(tenants []Tenant) *directory {
	d := &directory{tenants: map[string]*tenantDir{}, byDomain: map[string]*tenantDir{}}
	for ti := range tenants {
		t := &tenants[ti]
		td := &tenantDir{
			name:         t.Name,
			users:        map[string]*User{},
			numbers:      map[string]numberRoute{},
			groups:       map[string]*Group{},
			pauseReasons: t.PauseReasons,
		}
		d.tenants[t.Name] = td
		if len(t.Domains) == 0 && d.fallback == nil {
			d.fallback = td
		}
		for _, dom := range t.Domains {
			d.byDomain[strings.ToLower(dom)] = td
			td.domains = append(td.domains, strings.ToLower(dom))
		}
		for i := range t.Users {
			td.users[t.Users[i].Extension] = &t.Users[i]
		}
		for gi := range t.Groups {
			g := &t.Groups[gi]
			td.groups[g.Name] = g
			for _, n := range g.Numbers {
				td.numbers[n.Number] = numberRoute{group: g, label: n.Label, priority: n.Priority}
			}
		}
		for i := range t.Trunks {
			tr := &t.Trunks[i]
			td.trunks = append(td.trunks, tr)
			for _, p := range tr.Sources {
				d.trunks = append(d.trunks, trunkSource{prefix: p.Masked(), tenant: td, trunk: tr})
			}
		}
	}
	return d
}

// trunkFor returns the trunk whose sources contain addr, the most specific
// prefix winning. Where trunks of several tenants share that prefix (one
// SBC in front of them all), it returns the first; trunksFor returns all.
func (d *directory) trunkFor(addr netip.Addr) (*tenantDir, *Trunk) {
	ts := d.trunksFor(addr)
	if len(ts) == 0 {
		return nil, nil
	}
	return ts[0].tenant, ts[0].trunk
}

// trunksFor returns every trunk whose sources hold addr in the most
// specific matching prefix: one, or several of different tenants behind
// one SBC.
func (d *directory) trunksFor(addr netip.Addr) []trunkSource {
	addr = addr.Unmap()
	best := -1
	var out []trunkSource
	for _, s := range d.trunks {
		switch {
		case !s.prefix.Contains(addr) || s.prefix.Bits() < best:
		case s.prefix.Bits() > best:
			best, out = s.prefix.Bits(), []trunkSource{s}
		default:
			out = append(out, s)
		}
	}
	return out
}

// pickTenant chooses, among the trunks of several tenants sharing a
// source, the one a request is for: the tenant that has the dialled
// number as a business number, else as a user's extension, else whose
// domain is the Request-URI's host, else the tenant named by the header
// the SBC sets (tenantHeader, when configured). Nil when that leaves
// none or more than one.
func pickTenant(ts []trunkSource, number, host, headerValue string) *trunkSource {
	if len(ts) == 1 {
		return &ts[0]
	}
	for _, match := range []func(td *tenantDir) bool{
		func(td *tenantDir) bool { _, ok := td.numbers[number]; return ok },
		func(td *tenantDir) bool { _, ok := td.users[number]; return ok },
		func(td *tenantDir) bool { return host != "" && slices.Contains(td.domains, strings.ToLower(host)) },
		func(td *tenantDir) bool { return headerValue != "" && td.name == headerValue },
	} {
		var found *trunkSource
		n := 0
		for i := range ts {
			if match(ts[i].tenant) {
				found = &ts[i]
				n++
			}
		}
		if n == 1 {
			return found
		}
	}
	return nil
}

// tenantForDomain maps a request's domain to its tenant.
func (d *directory) tenantForDomain(domain string) *tenantDir {
	if t, ok := d.byDomain[strings.ToLower(domain)]; ok {
		return t
	}
	return d.fallback
}
