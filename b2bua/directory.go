package b2bua

import (
	"net/netip"
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
// prefix winning.
func (d *directory) trunkFor(addr netip.Addr) (*tenantDir, *Trunk) {
	addr = addr.Unmap()
	best := -1
	var td *tenantDir
	var tr *Trunk
	for _, s := range d.trunks {
		if s.prefix.Contains(addr) && s.prefix.Bits() > best {
			best, td, tr = s.prefix.Bits(), s.tenant, s.trunk
		}
	}
	return td, tr
}

// tenantForDomain maps a request's domain to its tenant.
func (d *directory) tenantForDomain(domain string) *tenantDir {
	if t, ok := d.byDomain[strings.ToLower(domain)]; ok {
		return t
	}
	return d.fallback
}
