package b2bua

import (
	"slices"
	"strings"
)

// userTargets is one target per registered contact of a user, of the
// devices the user's calls ring on.
func (s *Server) userTargets(tenant, ext string) []target {
	var ring Device
	if u := s.findUser(tenant, ext); u != nil {
		ring = u.Ring
	}
	return s.deviceTargets(tenant, ext, ring)
}

// deviceTargets is one target per registered contact of a user on device
// (RingBoth: any).
func (s *Server) deviceTargets(tenant, ext string, device Device) []target {
	var ts []target
	for _, ct := range s.reg.contacts(tenant, ext) {
		tr := ct.transport
		if t, ok := ct.uri.UriParams.Get("transport"); ok {
			tr = t
		}
		browser := isWebSocket(ct.transport)
		if (device == RingBrowser && !browser) || (device == RingPhone && browser) {
			continue
		}
		if browser {
			// A browser is reached over the connection it registered on,
			// whatever its Contact says.
			tr = ct.transport
		}
		ts = append(ts, target{agent: ext, uri: ct.uri, dest: ct.source, transport: strings.ToUpper(tr)})
	}
	return ts
}

// pickAgents asks the router whom of group g to ring next for call c and
// returns one target per registered phone of each agent it chose; the
// agents are reserved for c (held busy) until released. With nobody to
// ring it returns the router's decision for the caller.
func (s *Server) pickAgents(c *Call, g *Group) ([]target, Decision) {
	tenant := c.route.tenant.name
	d := s.router.Route(RouteRequest{
		CallID:    c.id,
		Tenant:    tenant,
		Group:     g,
		Number:    c.route.number,
		Label:     c.route.label,
		Priority:  c.route.priority,
		Caller:    c.route.caller,
		Since:     c.snap.Load().StartedAt,
		Tried:     func(ext string) bool { return c.ringing.tried[ext] },
		Reachable: func(ext string) bool { return len(s.userTargets(tenant, ext)) > 0 },
		Wake:      func() bool { return c.post(c.onQueueWake) },
		Announce:  func(a Announcement) bool { return c.post(func() { c.onAnnounce(a) }) },
		Exit:      func(x Exit) bool { return c.post(func() { c.leaveQueue(x) }) },
	})
	var out []target
	for _, ext := range d.Agents {
		c.reserved = append(c.reserved, ext)
		ts := s.userTargets(tenant, ext)
		if len(ts) == 0 {
			// Unregistered since the router looked: not rung, not held.
			s.release(c, ext, ReleaseWithdrawn)
			continue
		}
		out = append(out, ts...)
	}
	return out, d
}

// hold reserves ext for call c: busy for group routing until released.
func (s *Server) hold(c *Call, ext string) {
	s.router.Hold(c.route.tenant.name, ext)
	c.reserved = append(c.reserved, ext)
}

// release frees an agent this call reserved: one that did not answer
// (why), or that left the call.
func (s *Server) release(c *Call, ext string, why Release) {
	i := slices.Index(c.reserved, ext)
	if i < 0 {
		return
	}
	c.reserved = slices.Delete(c.reserved, i, i+1)
	s.router.Free(c.route.tenant.name, ext, why)
}
