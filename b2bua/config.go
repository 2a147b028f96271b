package b2bua

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// Config is everything a Server needs. The zero value of an optional field
// means its default. The file schema lives in package config; cmd translates.
type Config struct {
	Tenants []Tenant
	// Host is the address earshot writes into Via, Contact and From of the
	// requests it originates (the advertised address behind NAT).
	Host string
	// UserAgent is the Server / User-Agent header value.
	UserAgent string
	// MaxCalls is the concurrent-call limit (503 past it). Zero: 1000.
	MaxCalls int
	// RetryAfter goes into 503 responses. Zero: 5s.
	RetryAfter time.Duration
	// SessionExpires is the RFC 4028 interval earshot grants. Zero: 1800s.
	SessionExpires time.Duration
	// Registration bounds REGISTER expiry.
	Registration RegistrationPolicy
	// ExtensionRingTimeout bounds ringing of extension-to-extension and
	// outbound calls. Zero: 60s.
	ExtensionRingTimeout time.Duration
	// DigestAlgorithms are the digest algorithms earshot challenges with,
	// in order ("MD5", "SHA-256"). Nil: MD5 only.
	DigestAlgorithms []string
	// FeatureCodes are the dial prefixes of the supervision modes; zero
	// fields take *1 listen, *2 whisper, *3 barge, *4 intercept.
	FeatureCodes FeatureCodes
	// Limits protect the listeners per source address (guard.go).
	Limits Limits
	// Overload sheds new calls while earshot is behind on its SIP input
	// (overload.go).
	Overload Overload
	// TenantHeader names a header an SBC sets to the tenant's name, the
	// last way to tell whose call it is when trunks of several tenants
	// share a source address (after the dialled number and the
	// Request-URI host). Empty: not used.
	TenantHeader string
	// SupervisorRingTimeout bounds ringing of a supervisor's phone for a
	// supervision started through the API. Zero: 30s.
	SupervisorRingTimeout time.Duration

	Media    Media
	Observer Observer
	// Router decides where calls to groups go and owns the agents'
	// availability. Nil: an AgentRouter on Now.
	Router Router
	// Agents changes agents' states for the feature codes of
	// FeatureCodes.Pause and the like (the queue). Nil: those codes get
	// 404.
	Agents AgentControl
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests may replace it.
	Now func() time.Time
}

// User roles.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleAdmin      = "admin"
)

// RegistrationPolicy bounds the expiry a registrar grants.
type RegistrationPolicy struct {
	Min, Max, Default time.Duration
	MaxContacts       int
}

// Tenant is one isolated customer of earshot.
type Tenant struct {
	Name    string
	Domains []string
	Trunks  []Trunk
	Groups  []Group
	Users   []User
	// BargeBeep plays a beep to customer and agent when a supervisor barges.
	BargeBeep bool
	// HoldMusic plays the call's group music (the built-in one for calls
	// outside groups) to a party the other puts on hold (a re-INVITE or
	// UPDATE offering sendonly or inactive) until it resumes.
	HoldMusic bool
	// TransferDetachesSupervisors ends a call's supervisions when its
	// customer is transferred (blind, attended, or to a queue); by default
	// they stay attached and hear the new agent.
	TransferDetachesSupervisors bool
	// NotifyAgentOnMonitor plays the agent a short tone when a supervision
	// of its call starts.
	NotifyAgentOnMonitor bool
	// PauseReasons are the reasons an agent may pause for, in the order
	// the pause feature code numbers them (1, 2, ...). Nil: break, lunch,
	// training.
	PauseReasons []string
}

// FeatureCodes are the prefixes a supervisor dials before an agent's
// extension to supervise its call in a mode, and the codes an agent dials
// to change its own state: Pause (optionally followed by the number of a
// pause reason), Unpause, LogIn, LogOut, and to ask for help on its call
// (Help) and end that request (HelpClose).
type FeatureCodes struct {
	Listen, Whisper, Barge, Intercept string
	Pause, Unpause, LogIn, LogOut     string
	Help, HelpClose                   string
}

// Trunk is a carrier connection recognised by the source of its INVITEs.
type Trunk struct {
	Name      string
	Sources   []netip.Prefix
	Outbound  string // host:port
	Transport string // "udp" or "tcp"
	Username  string
	Password  string
	// CallerID is the number the carrier sees (From and
	// P-Asserted-Identity) on calls users place through the trunk, unless
	// their group has its own. Empty: the user's extension.
	CallerID string
}

// Group is a set of agents reached through business numbers.
type Group struct {
	Name    string
	Numbers []Number
	Agents  []string
	// Supervisors are assigned the help requests of the group's calls
	// (control); none means every supervisor and admin of the tenant.
	Supervisors  []string
	Strategy     Strategy
	RingTimeout  time.Duration
	SLAThreshold time.Duration
	// WrapUp is the time after each call before an agent is offered the
	// next one of this group. Zero: none.
	WrapUp time.Duration
	// MaxMissed is how many offers in a row an agent may leave unanswered
	// before it is paused with reason no_answer. Zero: 3; negative: never.
	MaxMissed int
	// Queue is what happens to callers when no agent is free.
	Queue QueuePolicy
	// CallerID is the number the carrier sees on calls the group's agents
	// place through a trunk (e.g. the group's business number); it wins
	// over the trunk's. An agent of several groups gets the first one's.
	CallerID string
}

// QueuePolicy is a group's queue. The zero value queues callers with the
// built-in music and announcements, answered with 200.
type QueuePolicy struct {
	// Disabled: a caller nobody can take gets Overflow at once (480 by
	// default), as a plain ring group does.
	Disabled bool
	// EarlyMedia: the waiting caller is not answered but hears the music
	// as early media (183), for carriers that bill on answer (many cut
	// early media after a few minutes).
	EarlyMedia bool
	// MaxWait is the longest a caller waits before Overflow (reason
	// timed_out). Zero: 10 minutes; negative: no limit.
	MaxWait time.Duration
	// MaxLength is the most callers waiting; the next one gets Overflow
	// (reason full). Zero: no limit.
	MaxLength int
	// JoinEmpty: callers queue even when no agent of the group is logged
	// in; otherwise they get Overflow at once (reason no_agents).
	JoinEmpty bool
	// Overflow is where callers go when they leave without an agent.
	// Zero: 480 Temporarily Unavailable.
	Overflow Exit
	// AnnounceInterval is the time between announcements of position and
	// estimated wait. Zero: 30s; negative: only on joining.
	AnnounceInterval time.Duration
	// NoPosition and NoWait leave the position or the estimated wait out
	// of the announcements.
	NoPosition, NoWait bool
	// LeaveDigit, pressed by a waiting caller, leaves the queue and
	// records a callback request. Zero: none.
	LeaveDigit byte
}

// Number is a business number and its label.
type Number struct {
	Number string
	Label  string
	// Priority ranks callers in the group's queue: higher first, then
	// first come, first served. Zero: normal.
	Priority int
}

// User is a SIP user of a tenant.
type User struct {
	Extension string
	Name      string
	Role      string // RoleAgent, RoleSupervisor or RoleAdmin
	Password  string // SIP digest password
	// Token is the bearer token that authenticates the user on the REST
	// API (control); empty: no API access.
	Token string
	// Modes are the supervision modes the user may use. Nil: every mode
	// for supervisors and admins, none for agents.
	Modes []Mode
	// Ring is where calls to the user ring: RingBoth ("" too), RingBrowser
	// or RingPhone.
	Ring Device
}

// Device is a kind of phone a user registers: a browser (SIP over
// WebSocket: the workspace's webphone, JsSIP, SIP.js) or a SIP phone
// (UDP, TCP, TLS).
type Device string

// Devices, for User.Ring and the device a supervision rings.
const (
	RingBoth    Device = ""
	RingBrowser Device = "browser"
	RingPhone   Device = "phone"
)

// ParseDevice reads "", "both", "browser" or "phone".
func ParseDevice(s string) (Device, error) {
	switch s {
	case "", "both":
		return RingBoth, nil
	case "browser":
		return RingBrowser, nil
	case "phone":
		return RingPhone, nil
	}
	return "", fmt.Errorf("unknown device %q", s)
}

// WithDefaults returns a copy of c with every default New applies filled
// in: the tenants as the server runs them, for components that share its
// domain model (the queue).
func (c Config) WithDefaults() Config { return c.withDefaults() }

func (c *Config) withDefaults() Config {
	d := *c
	// Deep-copy what the server keeps pointers into, so that the caller's
	// Config is neither written by the defaults nor shared with the server.
	d.Tenants = make([]Tenant, len(c.Tenants))
	for i, t := range c.Tenants {
		t.Domains = slices.Clone(t.Domains)
		t.Users = slices.Clone(t.Users)
		for j := range t.Users {
			t.Users[j].Modes = slices.Clone(t.Users[j].Modes)
		}
		t.PauseReasons = slices.Clone(t.PauseReasons)
		if len(t.PauseReasons) == 0 {
			t.PauseReasons = []string{"break", "lunch", "training"}
		}
		t.Trunks = slices.Clone(t.Trunks)
		for j := range t.Trunks {
			t.Trunks[j].Sources = slices.Clone(t.Trunks[j].Sources)
		}
		t.Groups = slices.Clone(t.Groups)
		for j := range t.Groups {
			t.Groups[j].Numbers = slices.Clone(t.Groups[j].Numbers)
			t.Groups[j].Agents = slices.Clone(t.Groups[j].Agents)
			t.Groups[j].Supervisors = slices.Clone(t.Groups[j].Supervisors)
		}
		d.Tenants[i] = t
	}
	if d.MaxCalls <= 0 {
		d.MaxCalls = 1000
	}
	if d.RetryAfter <= 0 {
		d.RetryAfter = 5 * time.Second
	}
	if d.SessionExpires <= 0 {
		d.SessionExpires = 1800 * time.Second
	}
	if d.ExtensionRingTimeout <= 0 {
		d.ExtensionRingTimeout = 60 * time.Second
	}
	if d.Registration.Min <= 0 {
		d.Registration.Min = 60 * time.Second
	}
	if d.Registration.Max <= 0 {
		d.Registration.Max = time.Hour
	}
	if d.Registration.Default <= 0 {
		d.Registration.Default = 10 * time.Minute
	}
	if d.Registration.MaxContacts <= 0 {
		d.Registration.MaxContacts = 5
	}
	if len(d.DigestAlgorithms) == 0 {
		d.DigestAlgorithms = []string{"MD5"}
	}
	d.DigestAlgorithms = slices.Clone(d.DigestAlgorithms)
	if d.SupervisorRingTimeout <= 0 {
		d.SupervisorRingTimeout = 30 * time.Second
	}
	fc := &d.FeatureCodes
	for _, f := range []struct {
		v   *string
		def string
	}{{&fc.Listen, "*1"}, {&fc.Whisper, "*2"}, {&fc.Barge, "*3"}, {&fc.Intercept, "*4"},
		{&fc.Pause, "*5"}, {&fc.Unpause, "*6"}, {&fc.LogIn, "*7"}, {&fc.LogOut, "*8"},
		{&fc.Help, "*9"}, {&fc.HelpClose, "*0"}} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if d.UserAgent == "" {
		d.UserAgent = "earshot"
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Router == nil {
		d.Router = NewAgentRouter(d.Now)
	}
	for ti := range d.Tenants {
		for gi := range d.Tenants[ti].Groups {
			g := &d.Tenants[ti].Groups[gi]
			if g.RingTimeout <= 0 {
				g.RingTimeout = 30 * time.Second
			}
			if g.SLAThreshold <= 0 {
				g.SLAThreshold = 20 * time.Second
			}
			if g.MaxMissed == 0 {
				g.MaxMissed = 3
			}
			q := &g.Queue
			if q.MaxWait == 0 {
				q.MaxWait = 10 * time.Minute
			}
			if q.AnnounceInterval == 0 {
				q.AnnounceInterval = 30 * time.Second
			}
			if q.Overflow.Group == "" && q.Overflow.Number == "" && q.Overflow.Status == 0 {
				q.Overflow.Status = 480
			}
			if q.Overflow.Status != 0 && q.Overflow.Reason == "" {
				q.Overflow.Reason = "Temporarily Unavailable"
			}
		}
	}
	return d
}
