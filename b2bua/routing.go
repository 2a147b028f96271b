package b2bua

import (
	"slices"
	"strings"
	"time"
)

// userTargets is one target per registered contact of a user.
func (s *Server) userTargets(tenant, ext string) []target {
	var ts []target
	for _, ct := range s.reg.contacts(tenant, ext) {
		tr := ct.transport
		if t, ok := ct.uri.UriParams.Get("transport"); ok {
			tr = t
		}
		ts = append(ts, target{agent: ext, uri: ct.uri, dest: ct.source, transport: strings.ToUpper(tr)})
	}
	return ts
}

// pickAgents chooses the agents of a group to ring next, by the group's
// strategy, among registered agents that are idle and not yet tried for
// this call. The chosen agents are reserved (busy) until released.
func (s *Server) pickAgents(c *Call, g *Group) []target {
	tenant := c.route.tenant.name
	if g.Strategy == RingAll && len(c.tried) > 0 {
		return nil
	}
	type cand struct {
		ext   string
		idle  time.Time
		index int
	}
	s.mu.Lock()
	var cands []cand
	for i, a := range g.Agents {
		k := userKey(tenant, a)
		if c.tried[a] || s.busy[k] > 0 {
			continue
		}
		cands = append(cands, cand{ext: a, idle: s.idleSince[k], index: i})
	}
	gk := userKey(tenant, g.Name)
	switch g.Strategy {
	case RoundRobin:
		next := s.rrNext[gk]
		n := len(g.Agents)
		slices.SortStableFunc(cands, func(a, b cand) int {
			return (a.index-next+n)%n - (b.index-next+n)%n
		})
	case LongestIdle:
		// Never-used agents (zero time) come first, then the oldest idle.
		slices.SortStableFunc(cands, func(a, b cand) int { return a.idle.Compare(b.idle) })
	}
	s.mu.Unlock()

	var out []target
	for _, cd := range cands {
		ts := s.userTargets(tenant, cd.ext)
		if len(ts) == 0 {
			continue
		}
		s.mu.Lock()
		k := userKey(tenant, cd.ext)
		if s.busy[k] > 0 {
			s.mu.Unlock()
			continue
		}
		s.busy[k]++
		if g.Strategy == RoundRobin {
			s.rrNext[gk] = (cd.index + 1) % len(g.Agents)
		}
		s.mu.Unlock()
		c.reserved = append(c.reserved, cd.ext)
		out = append(out, ts...)
		if g.Strategy != RingAll {
			break
		}
	}
	return out
}

// release frees an agent this call reserved but that did not answer.
func (s *Server) release(c *Call, ext string) {
	i := slices.Index(c.reserved, ext)
	if i < 0 {
		return
	}
	c.reserved = slices.Delete(c.reserved, i, i+1)
	s.mu.Lock()
	s.releaseLocked(c.route.tenant.name, ext, s.cfg.Now())
	s.mu.Unlock()
}

func (s *Server) releaseLocked(tenant, ext string, now time.Time) {
	k := userKey(tenant, ext)
	if s.busy[k] <= 1 {
		delete(s.busy, k)
		s.idleSince[k] = now
		return
	}
	s.busy[k]--
}
