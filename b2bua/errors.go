package b2bua

import "errors"

// Errors of the supervision API. Each maps to a SIP status for feature
// codes and to an HTTP status in the control plane.
var (
	ErrUnknownMode       = errors.New("unknown supervision mode")
	ErrNotSupervisor     = errors.New("only supervisors and admins may supervise")
	ErrModeNotAllowed    = errors.New("mode not allowed for this user")
	ErrCallNotFound      = errors.New("no such call")
	ErrCallNotAnswered   = errors.New("call is not answered")
	ErrNoActiveCall      = errors.New("agent has no active call")
	ErrSupervisionGone   = errors.New("no such supervision")
	ErrNotRegistered     = errors.New("supervisor has no registered phone")
	ErrAlreadySupervised = errors.New("supervisor already on this call")
	ErrIntercepted       = errors.New("supervision turned into the call by an intercept")
	// ErrTransferPending: the call has a transfer in progress.
	ErrTransferPending = errors.New("a transfer of the call is in progress")
	// ErrNoSuchTarget: a transfer to a number that is no user, no
	// business number and not dialable through a trunk.
	ErrNoSuchTarget = errors.New("no such transfer target")
	// ErrTargetUnavailable: the transfer target has no registered phone
	// or no free agent.
	ErrTargetUnavailable = errors.New("transfer target unavailable")
	// ErrNotMixable: the call's codec is one the mixer cannot decode
	// (relayed Opus, G.722): no supervisor can join it.
	ErrNotMixable = errors.New("the call's codec cannot be mixed for supervision")
	// ErrOtherAgent: an internal call is already supervised with its
	// other agent as the agent.
	ErrOtherAgent = errors.New("call is supervised for its other agent")
	// ErrNotQueued: a pick or move of a call that is not waiting in a
	// queue (answered, ringing before any queue, or the router keeps no
	// queue).
	ErrNotQueued = errors.New("call is not waiting in a queue")
	// ErrUserBusy: the user asked to take a waiting call is on a call.
	ErrUserBusy = errors.New("user is busy")
	// ErrNoSuchGroup: a move to a group the tenant does not have.
	ErrNoSuchGroup = errors.New("no such group")
)
