package config

import "time"

// Config is the whole earshot configuration file. Field by field reference:
// docs/config.md. The zero value of an optional field means its default,
// filled in by Parse.
type Config struct {
	Log     Log    `yaml:"log"`
	SIP     SIP    `yaml:"sip"`
	HTTP    HTTP   `yaml:"http"`
	Media   Media  `yaml:"media"`
	DataDir string `yaml:"data_dir"`
	// Retention bounds how long the control plane keeps its records.
	Retention Retention `yaml:"retention"`
	// Runtime tunes the Go runtime's garbage collector.
	Runtime Runtime  `yaml:"runtime"`
	Tenants []Tenant `yaml:"tenants"`
}

// Runtime tunes the garbage collector. Go's own GOGC and GOMEMLIMIT, when
// set in the environment, win over these.
type Runtime struct {
	// GCPercent is how far the heap may grow past what is live before a
	// collection, in percent (Go's GOGC, whose own default is 100).
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is the soft limit of the process's memory in MiB
	// (Go's GOMEMLIMIT): near it the collector runs as often as it must,
	// whatever GCPercent allows. 0: half the memory of the machine, or of
	// its cgroup when that is less.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Retention is how long the database keeps records before pruning them.
// Live state (open help requests) is never pruned, whatever its age.
type Retention struct {
	// Audit is how long audit records (and the notes and closed help
	// requests they refer to) are kept.
	Audit Duration `yaml:"audit"`
	// CallHistory is how long ended calls and supervisions are kept for
	// statistics and reports. At least an hour: the statistics look back
	// that far.
	CallHistory Duration `yaml:"call_history"`
}

// Log selects the log format and level.
type Log struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// SIP configures the signalling side.
type SIP struct {
	Listen []Listener `yaml:"listen"`
	// AdvertisedAddress is the host or IP written into Via, Contact and
	// Record-Route when earshot sits behind NAT. Empty: the listener's address.
	AdvertisedAddress string `yaml:"advertised_address"`
	UserAgent         string `yaml:"user_agent"`
	// MaxCalls is the concurrent-call limit; past it INVITEs get 503.
	MaxCalls int `yaml:"max_calls"`
	// RetryAfter is sent with 503 responses when overloaded.
	RetryAfter Duration `yaml:"retry_after"`
	// DrainTimeout bounds how long SIGTERM waits for active calls.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// SessionExpires is the RFC 4028 session interval earshot asks for.
	SessionExpires Duration `yaml:"session_expires"`
	// TransactionLinger is how long a completed SIP transaction stays to
	// absorb retransmissions (RFC 3261's timers D, J, L and M, 32 s
	// over UDP there). One value for the whole process.
	TransactionLinger Duration     `yaml:"transaction_linger"`
	Registration      Registration `yaml:"registration"`
	FeatureCodes      FeatureCodes `yaml:"feature_codes"`
	// DigestAlgorithms are the digest algorithms earshot challenges with,
	// in the order of the challenges (MD5, SHA-256).
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// Limits protect the listeners per source address. Zero fields take
	// the defaults documented in docs/config.md.
	Limits Limits `yaml:"limits"`
	// Overload refuses new calls (503) while earshot is behind on its
	// SIP input.
	Overload Overload `yaml:"overload"`
	// TenantHeader names a header an SBC sets to the tenant's name, used
	// when trunks of several tenants share a source and neither the
	// dialled number nor the Request-URI host tells them apart.
	TenantHeader string `yaml:"tenant_header"`
}

// Limits are per-source rate limits, bans after failed authentications,
// and TCP/TLS connection bounds.
type Limits struct {
	InviteRate       int      `yaml:"invite_rate"`   // per second, burst twice that
	RegisterRate     int      `yaml:"register_rate"` // per second, burst twice that
	OptionsRate      int      `yaml:"options_rate"`  // per second, burst twice that
	AuthFailures     int      `yaml:"auth_failures"` // failures within auth_window that ban
	AuthWindow       Duration `yaml:"auth_window"`
	BanTime          Duration `yaml:"ban_time"`
	LimitTrunks      bool     `yaml:"limit_trunks"`
	TCPConnections   int      `yaml:"tcp_connections"` // per source address
	TCPHeaderTimeout Duration `yaml:"tcp_header_timeout"`
	TCPIdleTimeout   Duration `yaml:"tcp_idle_timeout"`
}

// Overload: new calls get 503 with Retry-After while every SIP datagram
// (UDP) read over an interval had waited longer than MaxDelay in its
// socket.
type Overload struct {
	MaxDelay Duration `yaml:"max_delay"`
	Interval Duration `yaml:"interval"`
	Disabled bool     `yaml:"disabled"`
}

// Listener is one SIP transport endpoint.
type Listener struct {
	Transport string `yaml:"transport"` // udp, tcp, tls, ws or wss
	Address   string `yaml:"address"`   // host:port
	CertFile  string `yaml:"cert_file"` // tls and wss only
	KeyFile   string `yaml:"key_file"`  // tls and wss only
}

// Registration bounds the Expires a registrar grants.
type Registration struct {
	MinExpires     Duration `yaml:"min_expires"`
	MaxExpires     Duration `yaml:"max_expires"`
	DefaultExpires Duration `yaml:"default_expires"`
	// MaxContacts is the number of contacts one user may register.
	MaxContacts int `yaml:"max_contacts"`
}

// FeatureCodes are the dial prefixes a supervisor uses before an agent's
// extension to start a supervision in a mode.
type FeatureCodes struct {
	Listen    string `yaml:"listen"`
	Whisper   string `yaml:"whisper"`
	Barge     string `yaml:"barge"`
	Intercept string `yaml:"intercept"`
	// Agent state codes, dialled alone: Pause optionally followed by the
	// number of a pause reason (1 = the tenant's first).
	Pause   string `yaml:"pause"`
	Unpause string `yaml:"unpause"`
	Login   string `yaml:"login"`
	Logout  string `yaml:"logout"`
	// Help codes, dialled alone by an agent on a call (from a second
	// line of its phone): Help opens a help request on that call,
	// HelpClose cancels it (still open) or closes it (accepted).
	Help      string `yaml:"help"`
	HelpClose string `yaml:"help_close"`
}

// HTTP configures the metrics / health / API listener.
type HTTP struct {
	Listen string `yaml:"listen"` // host:port
	// Pprof serves Go's runtime profiles under /debug/pprof/ on the same
	// listener. Off by default: profiles expose internals and cost CPU.
	Pprof bool `yaml:"pprof"`
	// MetricsToken, when set, is the bearer token /metrics (and pprof)
	// require; empty leaves them open to whoever reaches the listener.
	MetricsToken string `yaml:"metrics_token"`
	// SessionIdleTimeout ends a workspace (browser) session that made no
	// request for this long; SessionMaxAge ends any session this long
	// after sign-in.
	SessionIdleTimeout Duration `yaml:"session_idle_timeout"`
	SessionMaxAge      Duration `yaml:"session_max_age"`
	// CORSOrigins are the web origins (scheme://host[:port], or "*") whose
	// pages may call the REST API with a bearer token. Empty: none.
	CORSOrigins []string `yaml:"cors_origins"`
}

// Media configures RTP anchoring.
type Media struct {
	// Address is the local IP RTP sockets bind to.
	Address string `yaml:"address"`
	// AdvertisedAddress is written into SDP instead of Address (NAT).
	AdvertisedAddress string `yaml:"advertised_address"`
	PortMin           int    `yaml:"port_min"`
	PortMax           int    `yaml:"port_max"`
	// Timeout hangs up a call that received no RTP for this long.
	Timeout Duration `yaml:"timeout"`
	// Latching decides which source may become a leg's RTP peer: "nat"
	// (the SDP's exact address at once; the SDP's or the signalling's IP
	// at another port after a probation of consecutive packets) or
	// "strict" (the SDP's exact address only).
	Latching string `yaml:"latching"`
	// WebRTCICETimeout ends a browser's leg that made no valid ICE check
	// this long after its SDP exchange (no reachable candidate).
	WebRTCICETimeout Duration `yaml:"webrtc_ice_timeout"`
	// WebRTCConsentTimeout ends a connected browser's leg that stopped
	// refreshing ICE consent for this long (RFC 7675).
	WebRTCConsentTimeout Duration `yaml:"webrtc_consent_timeout"`
	// KernelRelay forwards the RTP of relayed calls in the kernel (eBPF):
	// "auto" where the process may load BPF programs, "off", or "on"
	// (refuse to start without it).
	KernelRelay string `yaml:"kernel_relay"`
	// KernelInterfaces are the interfaces the in-kernel relay attaches
	// to. Empty: the loopback interface and those holding Address.
	KernelInterfaces []string `yaml:"kernel_interfaces"`
	// IOUring batches the media sends with io_uring (a mixer worker's
	// frames of a tick, a receive loop's relayed packets of one wait):
	// "auto" where the kernel allows io_uring, "off" (one sendto per
	// packet), or "on" (refuse to start without it).
	IOUring string `yaml:"io_uring"`
	// ReceiveThreads: "dedicated" (the default) gives each media receive
	// loop a scheduler slot (a Go P) of its own, so a loop woken by a
	// packet need not win one back; "shared" lets the loops share the
	// process's slots.
	ReceiveThreads string `yaml:"receive_threads"`
}

// Tenant is one isolated customer of earshot: its trunks, groups and users.
type Tenant struct {
	Name string `yaml:"name"`
	// Domains are the SIP domains (request-URI / To host) of this tenant's
	// users. At most one tenant may leave it empty: it takes every domain
	// no other tenant claims.
	Domains []string `yaml:"domains"`
	Trunks  []Trunk  `yaml:"trunks"`
	Groups  []Group  `yaml:"groups"`
	Users   []User   `yaml:"users"`
	// NotifyAgentOnMonitor plays the agent a short tone when monitoring
	// starts (jurisdictions that require it). Off by default.
	NotifyAgentOnMonitor bool `yaml:"notify_agent_on_monitor"`
	// BargeBeep plays a beep to the call when a supervisor barges.
	BargeBeep bool `yaml:"barge_beep"`
	// HoldMusic plays music on hold to a party the other puts on hold.
	// Off by default: phones and PBXs usually play their own.
	HoldMusic bool `yaml:"hold_music"`
	// TransferDetachesSupervisors ends the supervisions of a call when
	// its customer is transferred. Off by default: supervisors follow
	// the customer and hear the new agent.
	TransferDetachesSupervisors bool `yaml:"transfer_detaches_supervisors"`
	// PauseReasons are what agents may pause for (break, lunch,
	// training by default).
	PauseReasons []string `yaml:"pause_reasons"`
}

// Trunk is a carrier or PBX connection, recognised by source address.
type Trunk struct {
	Name string `yaml:"name"`
	// Sources are CIDRs (or bare IPs) whose INVITEs are this trunk's.
	Sources []string `yaml:"sources"`
	// Outbound is host:port where outbound calls are sent.
	Outbound  string `yaml:"outbound"`
	Transport string `yaml:"transport"` // udp (default) or tcp
	// Username and Password answer the carrier's digest challenge.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CallerID is the number the carrier sees (From, P-Asserted-Identity)
	// on calls users place through the trunk; empty: their extension.
	CallerID string `yaml:"caller_id"`
}

// Group is a set of agents reached through business numbers.
type Group struct {
	Name        string   `yaml:"name"`
	Numbers     []Number `yaml:"numbers"`
	Agents      []string `yaml:"agents"`      // extensions
	Supervisors []string `yaml:"supervisors"` // extensions assigned help requests
	Strategy    string   `yaml:"strategy"`    // ring-all (default), round-robin, longest-idle
	// RingTimeout is how long one ring attempt lasts before moving on.
	RingTimeout Duration `yaml:"ring_timeout"`
	// SLAThreshold: a call answered within it counts toward the SLA.
	SLAThreshold Duration `yaml:"sla_threshold"`
	// WrapUp is the time after each call before an agent gets the next.
	WrapUp Duration `yaml:"wrap_up"`
	// MaxMissed unanswered offers in a row pause an agent (reason
	// no_answer); 0 means 3, -1 never.
	MaxMissed int `yaml:"max_missed"`
	// Queue is what callers get when no agent is free.
	Queue Queue `yaml:"queue"`
	// CallerID is the number carriers see on calls the group's agents
	// place (e.g. its business number); it wins over the trunk's.
	CallerID string `yaml:"caller_id"`
}

// Queue is a group's queue. Everything has a default: a group without a
// queue block queues callers with the built-in music and announcements.
type Queue struct {
	// Disabled turns the queue off: a caller nobody can take goes to the
	// overflow at once (480 by default), like a plain ring group.
	Disabled bool `yaml:"disabled"`
	// Answer is how a waiting caller is answered: "answer" (200) or
	// "early_media" (183, for carriers that bill on answer).
	Answer string `yaml:"answer"`
	// MaxWait is the longest wait before the overflow (default 10m).
	MaxWait Duration `yaml:"max_wait"`
	// MaxLength is the most callers waiting; 0 is no limit.
	MaxLength int `yaml:"max_length"`
	// JoinEmpty queues callers even when no agent is logged in.
	JoinEmpty bool `yaml:"join_empty"`
	// Overflow is where callers go when they leave without an agent.
	Overflow Overflow `yaml:"overflow"`
	// Music is a WAV file (8 kHz mono, 16-bit PCM or G.711); empty: the
	// built-in music.
	Music string `yaml:"music"`
	// Prompts is a directory of WAV files replacing built-in prompts of
	// the same name (queue-welcome.wav, num-5.wav, ...).
	Prompts string `yaml:"prompts"`
	// Announce says what the periodic announcement tells: both, position,
	// wait or none.
	Announce string `yaml:"announce"`
	// AnnounceInterval is the time between announcements (default 30s).
	AnnounceInterval Duration `yaml:"announce_interval"`
	// LeaveDigit, pressed while waiting, leaves the queue with a callback
	// request (one of 0-9, *, #); empty: none.
	LeaveDigit string `yaml:"leave_digit"`
}

// Overflow is one way out of a queue: a group of the tenant, a number
// (a business number of the tenant, or an external number dialled
// through its first trunk), or a final SIP status with a reason phrase.
type Overflow struct {
	Group  string `yaml:"group"`
	Number string `yaml:"number"`
	Status int    `yaml:"status"`
	Reason string `yaml:"reason"`
}

// Number is a business number and its display label.
type Number struct {
	Number string `yaml:"number"`
	Label  string `yaml:"label"`
	// Priority ranks its callers in the group's queue: higher first.
	Priority int `yaml:"priority"`
}

// User is an agent, supervisor or admin.
type User struct {
	Extension string `yaml:"extension"`
	Name      string `yaml:"name"`
	Role      string `yaml:"role"` // agent, supervisor, admin
	Password  string `yaml:"password"`
	Token     string `yaml:"token"`
	// Modes are the supervision modes this user may use; empty means all
	// modes for supervisors and admins, none for agents.
	Modes []string `yaml:"modes"`
	// Ring says where calls to this user ring: "both" (default: every
	// registered phone, browser included), "browser" (only the
	// workspace's webphone and other SIP-over-WebSocket clients) or
	// "phone" (only SIP phones on UDP, TCP or TLS).
	Ring string `yaml:"ring"`
}

// Duration is a time.Duration written as a Go duration string ("20s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
