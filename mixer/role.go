package mixer

// Role is what a leg is to the call: the party it carries.
type Role uint8

// The roles a leg can have. The zero value is invalid so that a forgotten
// field in a LegConfig is an error rather than a silent customer.
const (
	RoleInvalid Role = iota
	// RoleCustomer is the caller (or callee) on the public side.
	RoleCustomer
	// RoleAgent is the contact-centre agent handling the call.
	RoleAgent
	// RoleSupervisor is a supervisor attached to the call in some Mode.
	RoleSupervisor
)

// String returns the lower-case name used in logs, metrics and the API.
func (r Role) String() string {
	switch r {
	case RoleCustomer:
		return "customer"
	case RoleAgent:
		return "agent"
	case RoleSupervisor:
		return "supervisor"
	default:
		return "invalid"
	}
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return r >= RoleCustomer && r <= RoleSupervisor }

// Mode is how a supervisor takes part in a call. Only supervisors have a
// mode; customer and agent legs use ModeNone.
type Mode uint8

// The supervision modes. Their effect on who hears whom is defined by Hears
// and tabulated in doc.go.
const (
	// ModeNone is the mode of customer and agent legs.
	ModeNone Mode = iota
	// ModeListen is silent monitoring: the supervisor hears customer and
	// agent and nobody hears the supervisor.
	ModeListen
	// ModeWhisper is coaching: the supervisor is heard by the agent only.
	ModeWhisper
	// ModeBarge is a three-way conference: everybody hears the supervisor.
	ModeBarge
	// ModeIntercept hands the call to the supervisor: the agent is dropped
	// and the supervisor takes the agent's place towards the customer.
	ModeIntercept
)

// String returns the lower-case name used in logs, metrics and the API.
func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeListen:
		return "listen"
	case ModeWhisper:
		return "whisper"
	case ModeBarge:
		return "barge"
	case ModeIntercept:
		return "intercept"
	default:
		return "invalid"
	}
}

// Valid reports whether m is one of the defined modes.
func (m Mode) Valid() bool { return m <= ModeIntercept }

// Party is the part of a leg that decides what it hears and who hears it.
type Party struct {
	Role Role
	// Mode is meaningful for RoleSupervisor only and must be ModeNone for
	// the other roles.
	Mode Mode
}

// Valid reports whether p combines a valid role with a mode allowed for it:
// a supervisor needs a real mode, the other roles must have ModeNone.
func (p Party) Valid() bool {
	if !p.Role.Valid() || !p.Mode.Valid() {
		return false
	}
	if p.Role == RoleSupervisor {
		return p.Mode != ModeNone
	}
	return p.Mode == ModeNone
}

// String returns "role" or "supervisor/mode".
func (p Party) String() string {
	if p.Role == RoleSupervisor {
		return p.Role.String() + "/" + p.Mode.String()
	}
	return p.Role.String()
}
