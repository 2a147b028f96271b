package b2bua

import "time"

// Direction tells where a call came from.
type Direction string

// Call directions.
const (
	Inbound  Direction = "inbound"  // trunk → group or user
	Outbound Direction = "outbound" // user → trunk
	Internal Direction = "internal" // user → group or user
)

// CallState is the coarse state of a call in the live call table.
type CallState string

// Call states.
const (
	StateRinging CallState = "ringing"
	// StateQueued: the caller waits in a group's queue (answered by
	// earshot, or hearing early media), hearing music.
	StateQueued   CallState = "queued"
	StateAnswered CallState = "answered"
	StateEnded    CallState = "ended"
)

// End reasons of a call.
const (
	EndCallerHangup = "caller_hangup"
	EndCalleeHangup = "callee_hangup"
	EndCanceled     = "canceled"
	EndNoAnswer     = "no_answer"
	EndNoAgent      = "no_agent"
	EndRejected     = "rejected"
	EndMediaTimeout = "media_timeout"
	// EndMediaFailed: a browser's WebRTC transport failed (DTLS, ICE,
	// consent) or the browser closed it.
	EndMediaFailed  = "media_failed"
	EndSessionTimer = "session_expired"
	EndShutdown     = "shutdown"
	EndError        = "error"
	// EndOverflow: the call left a queue for a final status (its
	// Overflow, a full queue, no agent logged in).
	EndOverflow = "overflow"
	// EndCallback: the caller left a queue asking to be called back.
	EndCallback = "callback"
	// EndFeature: a feature-code call (an agent changing its state) was
	// confirmed.
	EndFeature = "feature"
	// EndSupervisorEnded: an intercepting supervisor's leg was ended
	// through the API, which ends the call it had taken over.
	EndSupervisorEnded = "supervisor_ended"
	// EndTransferred: a consultation call whose other party an attended
	// transfer took over (attended.go).
	EndTransferred = "transferred"
)

// EndReasons lists every end reason, for metrics that export each one
// whether or not a call ended that way yet.
var EndReasons = []string{EndCallerHangup, EndCalleeHangup, EndCanceled, EndNoAnswer, EndNoAgent,
	EndRejected, EndMediaTimeout, EndSessionTimer, EndShutdown, EndError, EndOverflow, EndCallback,
	EndFeature, EndSupervisorEnded, EndTransferred, EndMediaFailed}

// Party is one side of a call as shown in the call table.
type Party struct {
	Number string `json:"number"`
	Name   string `json:"name,omitempty"`
}

// CallSnapshot is a copy of a call's public state, safe to keep.
type CallSnapshot struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	Direction  Direction `json:"direction"`
	Group      string    `json:"group,omitempty"`
	Number     string    `json:"number,omitempty"`
	Label      string    `json:"label,omitempty"`
	Caller     Party     `json:"caller"`
	Callee     Party     `json:"callee"`
	Agents     []string  `json:"agents,omitempty"`
	State      CallState `json:"state"`
	StartedAt  time.Time `json:"started_at"`
	QueuedAt   time.Time `json:"queued_at,omitzero"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	EndReason  string    `json:"end_reason,omitempty"`
	// SessionID is the call's RFC 7989 Session-ID, the same on every leg;
	// CallerCallID and CalleeCallID are the SIP Call-IDs of the caller's
	// leg and of the answered callee's (or of the trunk), for correlation
	// with an SBC's logs or a carrier's CDR.
	SessionID    string `json:"session_id"`
	CallerCallID string `json:"caller_sip_call_id"`
	CalleeCallID string `json:"callee_sip_call_id,omitempty"`
}

// CallEventType names what happened to a call.
type CallEventType string

// Call event types.
const (
	CallStarted  CallEventType = "call.started"
	CallRinging  CallEventType = "call.ringing"
	CallAnswered CallEventType = "call.answered"
	// CallQueued: the caller waits in its group's queue.
	CallQueued CallEventType = "call.queued"
	// CallRerouted: the call left its queue for another group.
	CallRerouted CallEventType = "call.rerouted"
	CallEnded    CallEventType = "call.ended"
	// CallAgentChanged: another party took the agent's place (an
	// intercept); Agents and Callee name the new one.
	CallAgentChanged CallEventType = "call.agent_changed"
)

// CallEvent is published on every change of the live call table.
type CallEvent struct {
	Type CallEventType
	Time time.Time
	Call CallSnapshot
}

// Observer receives events. It is called from call goroutines, never under
// a lock of this package, and must not block for long.
type Observer interface {
	CallEvent(CallEvent)
	SupervisionEvent(SupervisionEvent)
	// QueueEvent and AgentEvent come from the Router (the queue).
	QueueEvent(QueueEvent)
	AgentEvent(AgentEvent)
}

type nopObserver struct{}

func (nopObserver) CallEvent(CallEvent)               {}
func (nopObserver) SupervisionEvent(SupervisionEvent) {}
func (nopObserver) QueueEvent(QueueEvent)             {}
func (nopObserver) AgentEvent(AgentEvent)             {}

// NopObserver returns an Observer that ignores everything.
func NopObserver() Observer { return nopObserver{} }
