package config

import (
	"net/netip"
	"strings"
)

// minTokenLen is the shortest API token accepted. It stops "1234"-style
// tokens, not a determined guesser: real deployments use long random ones.
const minTokenLen = 8

// crossTenant holds what must be unique across all tenants.
type crossTenant struct {
	names    map[string]string       // tenant name → path
	domains  map[string]string       // lower-cased domain → path
	sources  map[netip.Prefix]string // trunk source prefix → path
	tokens   map[string]string       // API token → path
	fallback string                  // path of the tenant without domains
}

func (c *Config) validateTenants(col *collector) {
	if len(c.Tenants) == 0 {
		col.addf("tenants", "at least one tenant is required")
		return
	}
	x := &crossTenant{
		names:   make(map[string]string),
		domains: make(map[string]string),
		sources: make(map[netip.Prefix]string),
		tokens:  make(map[string]string),
	}
	for i := range c.Tenants {
		c.validateTenant(col, x, &c.Tenants[i], idx("tenants", i))
	}
}

func (c *Config) validateTenant(col *collector, x *crossTenant, t *Tenant, p string) {
	if t.Name == "" {
		col.addf(at(p, "name"), "required")
	} else if other, dup := x.names[t.Name]; dup {
		col.addf(at(p, "name"), "tenant %q is also %s", t.Name, other)
	} else {
		x.names[t.Name] = p
	}

	if len(t.Domains) == 0 {
		if x.fallback != "" {
			col.addf(at(p, "domains"), "only one tenant may leave domains empty (the fallback tenant), and %s already does", x.fallback)
		} else {
			x.fallback = p
		}
	}
	for i, d := range t.Domains {
		dp := idx(at(p, "domains"), i)
		if d == "" {
			col.addf(dp, "must not be empty")
			continue
		}
		if err := checkHost(d); err != nil {
			col.addf(dp, "%s", err)
			continue
		}
		key := strings.ToLower(strings.TrimSuffix(d, "."))
		if other, dup := x.domains[key]; dup {
			col.addf(dp, "domain %q is also claimed by %s", d, other)
		} else {
			x.domains[key] = dp
		}
	}

	trunks := make(map[string]string)
	for i := range t.Trunks {
		validateTrunk(col, x, trunks, &t.Trunks[i], idx(at(p, "trunks"), i))
	}

	users := make(map[string]*User)
	for i := range t.Users {
		c.validateUser(col, x, users, &t.Users[i], idx(at(p, "users"), i))
	}

	groups := make(map[string]string)
	numbers := make(map[string]string)
	for i := range t.Groups {
		c.validateGroup(col, users, groups, numbers, &t.Groups[i], idx(at(p, "groups"), i))
	}
	c.validateQueues(col, t, p)
}

func validateTrunk(col *collector, x *crossTenant, names map[string]string, tr *Trunk, p string) {
	if tr.Name == "" {
		col.addf(at(p, "name"), "required")
	} else if other, dup := names[tr.Name]; dup {
		col.addf(at(p, "name"), "trunk %q is also %s", tr.Name, other)
	} else {
		names[tr.Name] = p
	}
	if len(tr.Sources) == 0 {
		col.addf(at(p, "sources"), "at least one source address or CIDR is required: it is how the trunk's calls are recognised")
	}
	for i, s := range tr.Sources {
		sp := idx(at(p, "sources"), i)
		pfx, err := parseSource(s)
		if err != nil {
			col.addf(sp, "%s", err)
			continue
		}
		// Trunks of different tenants may share a source (one SBC in front
		// of several tenants: the dialled number, the Request-URI host or
		// sip.tenant_header tells them apart); two of one tenant may not.
		tenant, _, _ := strings.Cut(sp, ".trunks")
		if other, dup := x.sources[pfx]; dup && strings.HasPrefix(other, tenant+".") {
			col.addf(sp, "%s is also %s: a call from it would match two trunks of the tenant", pfx, other)
		} else if !dup {
			x.sources[pfx] = sp
		}
	}
	if err := checkHostPort(tr.Outbound, false); err != nil {
		col.addf(at(p, "outbound"), "%s", err)
	}
	switch tr.Transport {
	case TransportUDP, TransportTCP:
	default:
		col.add(at(p, "transport"), oneOf(TransportUDP, TransportTCP))
	}
	if (tr.Username == "") != (tr.Password == "") {
		col.addf(at(p, "password"), "username and password go together: set both or neither")
	}
}

func (c *Config) validateUser(col *collector, x *crossTenant, users map[string]*User, u *User, p string) {
	switch {
	case !digits(u.Extension):
		col.addf(at(p, "extension"), "%s must be digits only", quoteShort(u.Extension))
	case users[u.Extension] != nil:
		col.addf(at(p, "extension"), "extension %s appears twice in this tenant", u.Extension)
	default:
		users[u.Extension] = u
		c.checkNotFeatureCode(col, at(p, "extension"), u.Extension)
	}
	switch u.Role {
	case RoleAgent, RoleSupervisor, RoleAdmin:
	default:
		col.add(at(p, "role"), oneOf(RoleAgent, RoleSupervisor, RoleAdmin))
	}
	if u.Password == "" {
		col.addf(at(p, "password"), "required: the SIP digest password")
	}
	switch {
	case u.Token == "":
		col.addf(at(p, "token"), "required: the API bearer token")
	case len(u.Token) < minTokenLen:
		col.addf(at(p, "token"), "must be at least %d characters", minTokenLen)
	case strings.IndexFunc(u.Token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		col.addf(at(p, "token"), "must be printable ASCII without spaces (it travels in an HTTP header)")
	default:
		// The token alone identifies the user and so the tenant.
		if other, dup := x.tokens[u.Token]; dup {
			col.addf(at(p, "token"), "same token as %s; tokens must be unique across all tenants", other)
		} else {
			x.tokens[u.Token] = p
		}
	}
	switch u.Ring {
	case "", RingBoth, RingBrowser, RingPhone:
	default:
		col.add(at(p, "ring"), oneOf(RingBoth, RingBrowser, RingPhone))
	}
	if u.Role == RoleAgent && len(u.Modes) > 0 {
		col.addf(at(p, "modes"), "agents cannot supervise; remove modes or change the role")
		return
	}
	seen := make(map[string]bool, len(u.Modes))
	for i, m := range u.Modes {
		mp := idx(at(p, "modes"), i)
		switch m {
		case ModeListen, ModeWhisper, ModeBarge, ModeIntercept:
		default:
			col.add(mp, oneOf(allModes()...))
			continue
		}
		if seen[m] {
			col.addf(mp, "%s is listed twice", m)
		}
		seen[m] = true
	}
}

func (c *Config) validateGroup(col *collector, users map[string]*User, names, numbers map[string]string, g *Group, p string) {
	if g.Name == "" {
		col.addf(at(p, "name"), "required")
	} else if other, dup := names[g.Name]; dup {
		col.addf(at(p, "name"), "group %q is also %s", g.Name, other)
	} else {
		names[g.Name] = p
	}
	if len(g.Numbers) == 0 {
		col.addf(at(p, "numbers"), "at least one business number is required")
	}
	for i, n := range g.Numbers {
		np := at(idx(at(p, "numbers"), i), "number")
		switch {
		case !businessNumber(n.Number):
			col.addf(np, "%s must be digits, optionally after a leading +", quoteShort(n.Number))
		case numbers[n.Number] != "":
			col.addf(np, "number %s is also %s", n.Number, numbers[n.Number])
		case users[n.Number] != nil:
			col.addf(np, "number %s is also a user's extension in this tenant", n.Number)
		default:
			numbers[n.Number] = np
			c.checkNotFeatureCode(col, np, n.Number)
		}
	}
	seen := make(map[string]bool)
	for i, a := range g.Agents {
		ap := idx(at(p, "agents"), i)
		switch {
		case users[a] == nil:
			col.addf(ap, "no user with extension %s in this tenant", quoteShort(a))
		case seen[a]:
			col.addf(ap, "%s is listed twice", a)
		}
		seen[a] = true
	}
	clear(seen)
	for i, s := range g.Supervisors {
		sp := idx(at(p, "supervisors"), i)
		u := users[s]
		switch {
		case u == nil:
			col.addf(sp, "no user with extension %s in this tenant", quoteShort(s))
		case u.Role != RoleSupervisor && u.Role != RoleAdmin:
			col.addf(sp, "user %s has role %s; supervisors need role supervisor or admin", s, quoteShort(u.Role))
		case seen[s]:
			col.addf(sp, "%s is listed twice", s)
		}
		seen[s] = true
	}
	switch g.Strategy {
	case StrategyRingAll, StrategyRoundRobin, StrategyLongestIdle:
	default:
		col.add(at(p, "strategy"), oneOf(StrategyRingAll, StrategyRoundRobin, StrategyLongestIdle))
	}
	positive(col, at(p, "ring_timeout"), g.RingTimeout)
	positive(col, at(p, "sla_threshold"), g.SLAThreshold)
}

// checkNotFeatureCode reports a dialable number that starts with a feature
// code made of digits only: dialling it would start a supervision instead.
func (c *Config) checkNotFeatureCode(col *collector, path, number string) {
	for _, fc := range c.featureCodes() {
		if fc[1] != "" && digits(fc[1]) && strings.HasPrefix(number, fc[1]) {
			col.addf(path, "%s starts with feature code %s %q", number, fc[0], fc[1])
		}
	}
}

// businessNumber reports whether s is digits with an optional leading +.
func businessNumber(s string) bool {
	return digits(strings.TrimPrefix(s, "+"))
}
