package b2bua

import (
	"strconv"
	"time"
)

// Router is the routing seam: where a call to a group goes. b2bua asks it
// whom to offer a call to when the call starts ringing, after every ring
// attempt that nobody took and whenever the router wakes the call; it
// tells the router which users are on calls and how offers ended. It owns
// the agents' availability — busy, idle since when, whose turn it is,
// paused or in wrap-up — and, for a queue, the waiting callers and their
// order, so that no server-wide map decides it. AgentRouter rings and
// gives up; the queue (package b2bua/queue) keeps callers waiting.
//
// Methods may be called from any goroutine, also while b2bua holds its own
// locks: a Router must not call back into the Server, and calls the
// RouteRequest's callbacks only outside its own locks.
type Router interface {
	// Route decides what happens to a call to a group now: the agents to
	// ring (held for the call, see Hold), wait in the group's queue, or
	// leave it by an Exit.
	Route(req RouteRequest) Decision
	// Hold marks a user busy on a call: a caller who is also an agent, an
	// extension dialled directly, a supervisor who took a call over.
	// Holds count: each is undone by one Free.
	Hold(tenant, ext string)
	// Free undoes one Hold (or an agent held by Route) and says why.
	// When the last one goes, the user is idle from now on (longest-idle
	// counts from here), after the group's wrap-up if a call ended.
	Free(tenant, ext string, why Release)
	// Busy reports whether a user has a call ringing or active.
	Busy(tenant, ext string) bool
	// Answered tells the router that ext answered call callID: the call
	// leaves its queue, the agent is on the call.
	Answered(callID, tenant, ext string)
	// Left tells the router that call callID, routed to a group, ended
	// or stopped routing without an agent; reason is the call's end
	// reason (EndCallerHangup, EndCanceled: the caller abandoned).
	Left(callID, reason string)
	// Registered tells the router that ext has a newly registered phone:
	// an agent who may take waiting calls.
	Registered(tenant, ext string)
	// Pick reserves waiting call callID for user ext (a supervisor who
	// takes it): the call's next Route offers it to ext alone.
	// ErrNotQueued if the call does not wait in a queue, ErrUserBusy if
	// ext is on a call.
	Pick(callID, tenant, ext string) error
}

// Release says why a hold ends.
type Release int

// Reasons a hold ends.
const (
	// ReleaseEnded: the call the user was on ended (wrap-up follows).
	ReleaseEnded Release = iota
	// ReleaseNoAnswer: the user's phone rang out or declined the offer.
	ReleaseNoAnswer
	// ReleaseWithdrawn: the offer was taken back (another agent answered,
	// the caller left, the phone is gone).
	ReleaseWithdrawn
)

// RouteRequest is a call asking its group for agents.
type RouteRequest struct {
	CallID string
	Tenant string
	Group  *Group
	// Number is the business number called, with its Label and Priority
	// (a queue serves higher priorities first); Caller is who calls.
	Number   string
	Label    string
	Priority int
	Caller   Party
	Since    time.Time // when the call started
	// Tried reports whether an agent was already offered this call; an
	// agent is offered a call once (AgentRouter; a queue keeps its own
	// rounds).
	Tried func(ext string) bool
	// Reachable reports whether an agent has a registered phone to ring.
	Reachable func(ext string) bool
	// Wake asks the call, without blocking, to Route again soon: an agent
	// may be free for it. It reports false when the call is gone.
	Wake func() bool
	// Announce asks the call, without blocking, to tell its waiting
	// caller where it stands.
	Announce func(Announcement) bool
	// Exit asks the call, without blocking, to leave the queue by x (the
	// maximum wait passed).
	Exit func(x Exit) bool
}

// Decision is a Router's answer to a RouteRequest.
type Decision struct {
	// Agents are to be rung now, in order. The router has held each of
	// them for the call; the call frees those who do not take it.
	Agents []string
	// Wait: the call waits in its group's queue (with music) until the
	// router wakes it; Announce is what to tell the caller on joining.
	Wait     bool
	Announce Announcement
	// Exit: the call leaves routing without an agent, by this way.
	Exit *Exit
	// With neither, the call fails with this SIP status and reason
	// phrase (480 when nobody is free).
	Status int
	Reason string
}

// Announcement is what a waiting caller is told.
type Announcement struct {
	Welcome  bool          // the welcome prompt first (on joining)
	Position int           // 1 is next; 0: not said
	Wait     time.Duration // estimated wait; 0: not said
}

// Exit is a way out of a queue without an agent: another group, an
// external number through the tenant's trunk, or a final SIP status.
type Exit struct {
	Why    string // LeftOverflowed, LeftTimedOut, ...
	Group  string // another group of the tenant, by name
	Number string // an external number, dialled through the trunk
	Status int    // else: this final status (and reason phrase)
	Reason string
}

// Target names where x goes, for events and logs.
func (x Exit) Target() string {
	switch {
	case x.Group != "":
		return "group:" + x.Group
	case x.Number != "":
		return "number:" + x.Number
	}
	return "status:" + strconv.Itoa(x.Status)
}
