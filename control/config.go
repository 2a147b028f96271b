package control

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// Defaults of Config's retention, the same as the configuration file's
// (docs/config.md).
const (
	DefaultAuditRetention = 90 * 24 * time.Hour
	DefaultCallRetention  = 30 * 24 * time.Hour
)

// Switchboard is what the control plane drives: the live call table and the
// supervision commands. b2bua.Server satisfies it; tests use a fake.
type Switchboard interface {
	Calls() []b2bua.CallSnapshot // live calls (all tenants)
	Call(id string) (b2bua.CallSnapshot, bool)
	Supervise(tenant, supervisor, callID string, mode b2bua.Mode, device b2bua.Device) (b2bua.SupervisionSnapshot, error) // rings the supervisor's phone; returns state ringing
	SetSupervisionMode(tenant, supervisor, supervisionID string, mode b2bua.Mode) (b2bua.SupervisionSnapshot, error)
	EndSupervision(tenant, supervisor, supervisionID string) error
	Supervision(id string) (b2bua.SupervisionSnapshot, bool)
	// Pick has user ext take a call waiting in a queue: its phone rings
	// and gets the caller when it answers.
	Pick(tenant, ext, callID string) error
	// Move sends a call waiting in a queue to another group's queue.
	Move(tenant, callID, group string) error
	// Transfer moves an answered call's customer to a user, a business
	// number or an external number; it returns once the target rings.
	Transfer(tenant, actor, callID, number string) error
}

// Notifier sends a short text to the registered phones of a user and
// returns how many it went to, without blocking. b2bua.Server satisfies
// it.
type Notifier interface {
	Notify(tenant, ext, text string) int
}

// Config is what New needs. The zero value of an optional field means its
// default.
type Config struct {
	// Tenants are the domain model the b2bua serves too: users (tokens,
	// roles), groups (supervisors, SLA thresholds). Required; New copies
	// what it needs and keeps no reference.
	Tenants []b2bua.Tenant
	// AuditRetention is how long audit records and help requests are
	// kept; CallRetention how long ended calls and supervisions are.
	// Zero: DefaultAuditRetention, DefaultCallRetention.
	AuditRetention time.Duration
	CallRetention  time.Duration
	// DataDir holds the database file earshot.db. Required.
	DataDir string
	// Switchboard is the live call table. Required.
	Switchboard Switchboard
	// Agents is the queue: agent states, the team, waiting callers. Nil:
	// those routes answer 404.
	Agents AgentDesk
	// Phones tells users on their SIP phones what happened to help
	// requests and what supervisors wrote to them (b2bua.Server.Notify).
	// Nil: no phone notifications.
	Phones Notifier
	// ListenCode is the feature code a supervisor dials before an
	// agent's extension to listen (sip.feature_codes.listen); a help
	// request's notification tells the supervisor what to dial. Empty:
	// the notification names no code.
	ListenCode string
	// Logger receives the service's logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// BatchWrites commits API writes through bbolt's Batch: concurrent
	// writes share one fsync at the cost of up to 10 ms added latency.
	// Every write is still committed before its response. Default: off.
	BatchWrites bool
	// OpenTimeout bounds the wait for the database file lock, so a second
	// process on the same data directory fails instead of hanging.
	// Default: 2s.
	OpenTimeout time.Duration
	// EventQueue is the capacity of the queue between the b2bua observer
	// callbacks and the worker that records them. Default:
	// defaultEventQueue.
	EventQueue int
	// SSEBuffer is the per-subscriber event buffer; a subscriber that
	// falls this far behind is disconnected. Default: 256.
	SSEBuffer int
	// Sessions authenticates browsers by their session cookie when a
	// request carries no bearer token; such requests need the session's
	// CSRF token on every state-changing method. Nil: tokens only.
	Sessions Sessions
	// CORSOrigins are the web origins (scheme://host[:port]) whose pages
	// may call the API with a bearer token from another origin. "*"
	// admits any origin. Nil: none (browsers refuse cross-origin calls).
	CORSOrigins []string
}

// Limits of the HTTP side.
const (
	// MaxBodyBytes is the largest request body accepted; past it: 413.
	MaxBodyBytes = 64 << 10
	// MaxNoteLength and MaxReasonLength bound free text, in characters.
	MaxNoteLength   = 2000
	MaxReasonLength = 500
	// sseKeepAlive is the interval of comment lines on an idle stream,
	// so proxies and clients see a live connection.
	sseKeepAlive = 15 * time.Second
)

// ConfigureServer sets the timeouts and header limit the API needs on the
// *http.Server that serves Handler, leaving fields already set alone. The
// event stream lifts the write deadline for its own connection only.
func ConfigureServer(s *http.Server) {
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = 10 * time.Second
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = 30 * time.Second
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = 30 * time.Second
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 120 * time.Second
	}
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = 64 << 10
	}
}
