package control

import (
	"crypto/sha256"
	"crypto/subtle"
	"github.com/earshot/earshot/b2bua"
	"net/http"
	"slices"
	"strings"
)

// Role is what a principal may do.
type Role string

// Roles, as in the configuration.
const (
	RoleAgent      Role = b2bua.RoleAgent
	RoleSupervisor Role = b2bua.RoleSupervisor
	RoleAdmin      Role = b2bua.RoleAdmin
)

// Principal is the authenticated caller: who, in which tenant, with which
// role. It comes from the token alone, never from the request.
type Principal struct {
	Tenant string
	User   string // extension
	Name   string
	Role   Role
}

// canSupervise reports whether p holds a supervisor's powers.
func (p Principal) canSupervise() bool { return p.Role == RoleSupervisor || p.Role == RoleAdmin }

// tokenEntry is one user's token, kept only as its SHA-256.
type tokenEntry struct {
	sum [sha256.Size]byte
	p   Principal
}

// authenticator maps bearer tokens to principals. Built once by New, read
// only afterwards: safe for concurrent use without a lock.
type authenticator struct {
	// byPrefix indexes entries by the first byte of their hash: the
	// lookup then compares whole hashes in constant time. The hash, not
	// the token, drives the lookup, so timing reveals nothing usable
	// about a token.
	byPrefix [256][]tokenEntry
}

func newAuthenticator(tenants []b2bua.Tenant) *authenticator {
	a := &authenticator{}
	for _, t := range tenants {
		for _, u := range t.Users {
			if u.Token == "" {
				continue
			}
			e := tokenEntry{
				sum: sha256.Sum256([]byte(u.Token)),
				p:   Principal{Tenant: t.Name, User: u.Extension, Name: u.Name, Role: Role(u.Role)},
			}
			a.byPrefix[e.sum[0]] = append(a.byPrefix[e.sum[0]], e)
		}
	}
	return a
}

// principal returns the caller of r, or false when the Authorization header
// carries no known bearer token.
func (a *authenticator) principal(r *http.Request) (Principal, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	var found Principal
	match := 0
	for _, e := range a.byPrefix[sum[0]] {
		// Every candidate is compared; no early exit.
		if subtle.ConstantTimeCompare(e.sum[:], sum[:]) == 1 {
			found, match = e.p, 1
		}
	}
	return found, match == 1
}

// directory answers questions about tenants' users and groups.
type directory struct {
	tenants map[string]*tenantInfo
}

type tenantInfo struct {
	groups      map[string]groupInfo
	groupOrder  []string
	supervisors []string          // every supervisor and admin, config order
	roles       map[string]string // extension → role
	names       map[string]string // extension → name, for phone notifications
}

type groupInfo struct {
	supervisors []string
	agents      []string
	sla         float64 // seconds
}

func newDirectory(tenants []b2bua.Tenant) *directory {
	d := &directory{tenants: map[string]*tenantInfo{}}
	for _, t := range tenants {
		ti := &tenantInfo{groups: map[string]groupInfo{}, roles: map[string]string{}, names: map[string]string{}}
		for _, g := range t.Groups {
			ti.groups[g.Name] = groupInfo{supervisors: slices.Clone(g.Supervisors), agents: slices.Clone(g.Agents), sla: g.SLAThreshold.Seconds()}
			ti.groupOrder = append(ti.groupOrder, g.Name)
		}
		for _, u := range t.Users {
			ti.roles[u.Extension] = u.Role
			ti.names[u.Extension] = u.Name
			if u.Role == b2bua.RoleSupervisor || u.Role == b2bua.RoleAdmin {
				ti.supervisors = append(ti.supervisors, u.Extension)
			}
		}
		d.tenants[t.Name] = ti
	}
	return d
}

// assignees returns who is assigned a help request on a call of group: the
// group's supervisors, or every supervisor and admin of the tenant when the
// call has no group or the group names none.
func (d *directory) assignees(tenant, group string) []string {
	ti := d.tenants[tenant]
	if ti == nil {
		return nil
	}
	if g, ok := ti.groups[group]; ok && len(g.supervisors) > 0 {
		return slices.Clone(g.supervisors)
	}
	return slices.Clone(ti.supervisors)
}

// role returns the configured role of a user, or "unknown".
func (d *directory) role(tenant, user string) string {
	if ti := d.tenants[tenant]; ti != nil {
		if r, ok := ti.roles[user]; ok {
			return r
		}
	}
	return "unknown"
}

// who names a user for a person: "1001 (Alice)", or "1001" without a name.
func (d *directory) who(tenant, user string) string {
	if ti := d.tenants[tenant]; ti != nil && ti.names[user] != "" {
		return user + " (" + ti.names[user] + ")"
	}
	return user
}

// slaThreshold returns a group's SLA threshold in seconds (0: no group).
func (d *directory) slaThreshold(tenant, group string) float64 {
	if ti := d.tenants[tenant]; ti != nil {
		return ti.groups[group].sla
	}
	return 0
}

// groups returns a tenant's group names in config order.
func (d *directory) groups(tenant string) []string {
	if ti := d.tenants[tenant]; ti != nil {
		return slices.Clone(ti.groupOrder)
	}
	return nil
}

func (d *directory) hasGroup(tenant, group string) bool {
	ti := d.tenants[tenant]
	if ti == nil {
		return false
	}
	_, ok := ti.groups[group]
	return ok
}

// supervises reports whether supervisor sup may manage agent ext: ext is
// an agent of a group that names sup among its supervisors, or that
// names none (then every supervisor of the tenant serves it).
func (d *directory) supervises(tenant, sup, ext string) bool {
	ti := d.tenants[tenant]
	if ti == nil {
		return false
	}
	for _, g := range ti.groups {
		if slices.Contains(g.agents, ext) && (len(g.supervisors) == 0 || slices.Contains(g.supervisors, sup)) {
			return true
		}
	}
	return false
}
