package b2bua

import (
	"slices"
	"sync"
	"time"
)

// AgentRouter is the Router of ring groups: it offers a call to the idle,
// reachable agents of its group by the group's Strategy, and keeps who is
// busy, since when each agent is idle and whose turn it is per group.
type AgentRouter struct {
	now func() time.Time

	mu        sync.Mutex           // guards the maps
	busy      map[string]int       // tenant/extension → holds (calls ringing or active)
	idleSince map[string]time.Time // tenant/extension → when its last hold was freed
	rrNext    map[string]int       // tenant/group → index of the next agent (round-robin)
}

// NewAgentRouter returns an AgentRouter on the clock now (nil: time.Now).
func NewAgentRouter(now func() time.Time) *AgentRouter {
	if now == nil {
		now = time.Now
	}
	return &AgentRouter{now: now, busy: map[string]int{}, idleSince: map[string]time.Time{}, rrNext: map[string]int{}}
}

// Route offers the call to the group's agents: with ring-all every idle,
// reachable agent not tried yet, on the first attempt only; with
// round-robin and longest-idle one agent per attempt, in the strategy's
// order. With nobody to ring the call fails with 480.
func (r *AgentRouter) Route(req RouteRequest) Decision {
	g := req.Group
	// Nobody at all, or nobody else after the agents rung did not answer.
	noAgent := Decision{Status: 480, Reason: "No Agent Available"}
	if slices.ContainsFunc(g.Agents, req.Tried) {
		noAgent.Reason = "Temporarily Unavailable"
		if g.Strategy == RingAll {
			return noAgent
		}
	}
	type cand struct {
		ext   string
		idle  time.Time
		index int
	}
	gk := userKey(req.Tenant, g.Name)
	r.mu.Lock()
	var cands []cand
	for i, a := range g.Agents {
		k := userKey(req.Tenant, a)
		if req.Tried(a) || r.busy[k] > 0 {
			continue
		}
		cands = append(cands, cand{ext: a, idle: r.idleSince[k], index: i})
	}
	switch g.Strategy {
	case RoundRobin:
		next := r.rrNext[gk]
		n := len(g.Agents)
		slices.SortStableFunc(cands, func(a, b cand) int {
			return (a.index-next+n)%n - (b.index-next+n)%n
		})
	case LongestIdle:
		// Never-used agents (zero time) come first, then the oldest idle.
		slices.SortStableFunc(cands, func(a, b cand) int { return a.idle.Compare(b.idle) })
	}
	r.mu.Unlock()

	// Reachability asks the registrar: outside r.mu, and each agent held
	// only if nobody took it meanwhile.
	var d Decision
	for _, cd := range cands {
		if !req.Reachable(cd.ext) {
			continue
		}
		r.mu.Lock()
		k := userKey(req.Tenant, cd.ext)
		if r.busy[k] > 0 {
			r.mu.Unlock()
			continue
		}
		r.busy[k]++
		if g.Strategy == RoundRobin {
			r.rrNext[gk] = (cd.index + 1) % len(g.Agents)
		}
		r.mu.Unlock()
		d.Agents = append(d.Agents, cd.ext)
		if g.Strategy != RingAll {
			break
		}
	}
	if len(d.Agents) == 0 {
		return noAgent
	}
	return d
}

// Hold marks a user busy on one more call.
func (r *AgentRouter) Hold(tenant, ext string) {
	r.mu.Lock()
	r.busy[userKey(tenant, ext)]++
	r.mu.Unlock()
}

// Free undoes one Hold; the last one makes the user idle from now.
func (r *AgentRouter) Free(tenant, ext string, _ Release) {
	k := userKey(tenant, ext)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[k] <= 1 {
		delete(r.busy, k)
		r.idleSince[k] = now
		return
	}
	r.busy[k]--
}

// Busy reports whether a user has a call ringing or active.
func (r *AgentRouter) Busy(tenant, ext string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy[userKey(tenant, ext)] > 0
}

// Answered does nothing: AgentRouter keeps no calls.
func (r *AgentRouter) Answered(callID, tenant, ext string) {}

// Left does nothing: AgentRouter keeps no calls.
func (r *AgentRouter) Left(callID, reason string) {}

// Registered does nothing: AgentRouter asks Reachable when it routes.
func (r *AgentRouter) Registered(tenant, ext string) {}

// Pick fails: AgentRouter keeps no queue.
func (r *AgentRouter) Pick(callID, tenant, ext string) error { return ErrNotQueued }
