package b2bua

// Router is the routing seam: where a call to a group goes. b2bua asks it
// whom to offer a call to when the call starts ringing and again after
// every ring attempt that nobody took, and tells it which users are on
// calls. It owns the agents' availability — busy, idle since when, whose
// turn it is — so that no server-wide map decides it. AgentRouter is
// today's implementation (ring-all, round-robin, longest-idle); a queue
// plugs in here.
//
// Methods may be called from any goroutine, also while b2bua holds its own
// locks: a Router must not call back into the Server.
type Router interface {
	// Route decides what happens to a call to a group now: the agents to
	// ring (held for the call, see Hold), or, with none, how the call
	// fails.
	Route(req RouteRequest) Decision
	// Hold marks a user busy on a call: an agent rung or talking, a caller
	// who is also an agent, an extension dialled directly, a supervisor
	// who took a call over. Holds count: each is undone by one Free.
	Hold(tenant, ext string)
	// Free undoes one Hold. When the last one goes, the user is idle from
	// now on (longest-idle counts from here).
	Free(tenant, ext string)
	// Busy reports whether a user has a call ringing or active.
	Busy(tenant, ext string) bool
}

// RouteRequest is a call asking its group for agents.
type RouteRequest struct {
	CallID string
	Tenant string
	Group  *Group
	// Tried reports whether an agent was already offered this call; an
	// agent is offered a call once.
	Tried func(ext string) bool
	// Reachable reports whether an agent has a registered phone to ring.
	Reachable func(ext string) bool
}

// Decision is a Router's answer to a RouteRequest.
type Decision struct {
	// Agents are to be rung now, in order. The router has held each of
	// them for the call; the call frees those who do not take it.
	Agents []string
	// With no Agents the call fails with this SIP status and reason
	// phrase (480 when nobody is free).
	Status int
	Reason string
}
