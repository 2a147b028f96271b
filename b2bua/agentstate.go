package b2bua

import (
	"fmt"
	"time"
)

// AgentState is where an agent stands for the calls of its groups.
type AgentState string

// Agent states. Only an available agent is offered calls.
const (
	AgentAvailable AgentState = "available"
	AgentRinging   AgentState = "ringing"
	AgentOnCall    AgentState = "on_call"
	// AgentWrapUp: the group's wrap-up time after a call, before the next
	// offer.
	AgentWrapUp AgentState = "wrap_up"
	// AgentPaused: on a break, with a reason from the tenant's list (or
	// PauseNoAnswer after too many unanswered offers).
	AgentPaused AgentState = "paused"
	// AgentLoggedOut: no registered phone, or logged out on purpose.
	AgentLoggedOut AgentState = "logged_out"
)

// PauseNoAnswer is the pause reason of an agent paused automatically after
// the group's number of consecutive unanswered offers.
const PauseNoAnswer = "no_answer"

// ParseAgentState reads a state an agent can be put in by request:
// available, paused or logged_out (the others follow from calls).
func ParseAgentState(s string) (AgentState, error) {
	switch st := AgentState(s); st {
	case AgentAvailable, AgentPaused, AgentLoggedOut:
		return st, nil
	}
	return "", fmt.Errorf("state %q cannot be set: use available, paused or logged_out", s)
}

// AgentStatus is one user of a tenant as the team list shows it.
type AgentStatus struct {
	Tenant     string     `json:"tenant"`
	Extension  string     `json:"extension"`
	Name       string     `json:"name,omitempty"`
	Role       string     `json:"role"`
	Groups     []string   `json:"groups,omitempty"`
	Registered bool       `json:"registered"`
	State      AgentState `json:"state"`
	Reason     string     `json:"reason,omitempty"` // the pause reason
	Since      time.Time  `json:"since"`
	// Seconds is the time spent in each state since earshot started.
	Seconds map[AgentState]float64 `json:"seconds"`
	// Missed counts consecutive unanswered offers.
	Missed int `json:"missed_offers"`
}

// AgentEvent is published whenever an agent's state changes.
type AgentEvent struct {
	Time   time.Time
	Agent  AgentStatus // the new state
	From   AgentState
	Actor  string // who changed it: an extension, or "" for earshot itself
	Reason string // the pause reason, if any
}

// QueuedCall is a caller waiting in a group's queue.
type QueuedCall struct {
	CallID   string    `json:"call_id"`
	Tenant   string    `json:"tenant"`
	Group    string    `json:"group"`
	Position int       `json:"position"` // 1 is next
	Caller   Party     `json:"caller"`
	Number   string    `json:"number"` // the business number called
	Label    string    `json:"label,omitempty"`
	Priority int       `json:"priority"`
	Since    time.Time `json:"since"` // when the call started
	Queued   time.Time `json:"queued_at"`
	// Offered is true while agents are being rung for the call.
	Offered bool `json:"offered"`
}

// QueueEventType names what happened to a queued call.
type QueueEventType string

// Queue event types.
const (
	QueueJoined          QueueEventType = "queue.joined"
	QueuePositionChanged QueueEventType = "queue.position_changed"
	QueueLeft            QueueEventType = "queue.left"
)

// Why a call left a queue.
const (
	LeftAnswered   = "answered"
	LeftAbandoned  = "abandoned"  // the caller hung up
	LeftOverflowed = "overflowed" // to another group, a number or a status
	LeftTimedOut   = "timed_out"  // the maximum wait passed
	LeftCallback   = "callback"   // the caller pressed the leave digit
	LeftMoved      = "moved"      // a supervisor moved it to another group
	LeftEnded      = "ended"      // anything else that ended the call
)

// QueueEvent is published when a caller joins a queue, moves up in it or
// leaves it.
type QueueEvent struct {
	Type QueueEventType
	Time time.Time
	Call QueuedCall
	// For QueueLeft: why, the time spent waiting since the call started,
	// and where an overflow went.
	Reason string
	Wait   time.Duration
	Target string
}

// AgentControl changes agents' states: from their phones (feature codes)
// and the REST API. The queue implements it.
type AgentControl interface {
	// SetAgentState puts ext in state (available, paused or logged_out)
	// with reason (a paused agent's; "" for the tenant's first reason).
	// actor is who asked. Errors name what was wrong (unknown user or
	// reason).
	SetAgentState(tenant, ext string, state AgentState, reason, actor string) error
}
