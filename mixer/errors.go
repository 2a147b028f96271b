package mixer

import "errors"

// Errors returned by the control operations. They are sentinels so that the
// layers above can test them with errors.Is; messages carry the detail.
var (
	// ErrUnsupportedCodec means a codec or payload type the mixer cannot
	// decode and encode.
	ErrUnsupportedCodec = errors.New("mixer: unsupported codec")
	// ErrInvalidParty means a role/mode combination that does not exist,
	// such as an agent in whisper mode or a supervisor without a mode.
	ErrInvalidParty = errors.New("mixer: invalid role or mode")
	// ErrDuplicateLeg means a LegID already present in the session.
	ErrDuplicateLeg = errors.New("mixer: duplicate leg id")
	// ErrUnknownLeg means a LegID not present in the session.
	ErrUnknownLeg = errors.New("mixer: unknown leg id")
	// ErrTooManyLegs means the session already holds MaxLegs legs.
	ErrTooManyLegs = errors.New("mixer: too many legs in session")
	// ErrClosed means the session or pool has been closed.
	ErrClosed = errors.New("mixer: closed")
	// ErrPooled means Tick was called on a session that a Pool clocks.
	ErrPooled = errors.New("mixer: session is clocked by a pool")
)
