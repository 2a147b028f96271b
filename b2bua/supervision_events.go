package b2bua

import "time"

// SupervisionState is the life of a supervision.
type SupervisionState string

// Supervision states.
const (
	// SupRinging: earshot is calling the supervisor's phone (a
	// supervision started from the API); nothing is attached yet.
	SupRinging SupervisionState = "ringing"
	// SupActive: the supervisor's leg is attached to the call.
	SupActive SupervisionState = "active"
	// SupEnded: detached, for the reason in EndReason.
	SupEnded SupervisionState = "ended"
)

// Origins of a supervision.
const (
	ViaFeatureCode = "feature_code" // the supervisor dialled *N + extension
	ViaAPI         = "api"          // started in-process (REST), earshot rang the supervisor
)

// End reasons of a supervision.
const (
	SupEndHangup    = "supervisor_hangup" // the supervisor hung up
	SupEndDetached  = "detached"          // ended through the API
	SupEndCallEnded = "call_ended"        // the supervised call ended
	SupEndNoAnswer  = "no_answer"         // the supervisor's phone did not answer
	SupEndRejected  = "rejected"          // the supervisor's phone declined
	SupEndError     = "error"
	// SupEndMediaFailed: the supervisor's browser lost its WebRTC
	// transport (DTLS or ICE failed, consent expired, the page closed).
	SupEndMediaFailed = "media_failed"
	// SupEndTransferred: the customer was transferred and the tenant
	// detaches supervisors on transfer.
	SupEndTransferred = "transferred"
)

// SupervisionSnapshot is a copy of one supervision's public state.
type SupervisionSnapshot struct {
	ID         string           `json:"id"`
	CallID     string           `json:"call_id"`
	Tenant     string           `json:"tenant"`
	Supervisor string           `json:"supervisor"` // extension
	Agent      string           `json:"agent"`      // the agent supervised when it started
	Mode       Mode             `json:"mode"`
	State      SupervisionState `json:"state"`
	Via        string           `json:"via"`
	StartedAt  time.Time        `json:"started_at"`
	EndedAt    time.Time        `json:"ended_at,omitzero"`
	EndReason  string           `json:"end_reason,omitempty"`
}

// SupervisionEventType names what happened to a supervision.
type SupervisionEventType string

// Supervision event types.
const (
	// SupervisionStarted: the supervisor's leg is attached, in Mode.
	SupervisionStarted SupervisionEventType = "supervision.started"
	// SupervisionModeChanged: Mode is the new mode, Previous the old one.
	SupervisionModeChanged SupervisionEventType = "supervision.mode_changed"
	// SupervisionRefused: a join or a switch to Requested was refused
	// (Reason says why); the mode is unchanged.
	SupervisionRefused SupervisionEventType = "supervision.refused"
	// SupervisionEnded: the supervision is over (EndReason in the snapshot).
	SupervisionEnded SupervisionEventType = "supervision.ended"
)

// SupervisionEvent is published on every start, switch, refusal and end of
// a supervision, for audit.
type SupervisionEvent struct {
	Type        SupervisionEventType
	Time        time.Time
	Supervision SupervisionSnapshot
	Previous    Mode   // for SupervisionModeChanged
	Requested   Mode   // for SupervisionRefused
	Reason      string // for SupervisionRefused
}
