package config

// Transports of SIP listeners and trunks.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls" // listeners only
	// SIP over WebSocket (RFC 7118), listeners only: browsers and web
	// softphones. The HTTP listener also serves it at /sip.
	TransportWS  = "ws"
	TransportWSS = "wss"
)

// User roles. Tenancy and role come from the user's token, never from a
// request body.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleAdmin      = "admin"
)

// Where a user's calls ring (User.Ring).
const (
	RingBoth    = "both"
	RingBrowser = "browser"
	RingPhone   = "phone"
)

// Supervision modes, as written in User.Modes.
const (
	ModeListen    = "listen"
	ModeWhisper   = "whisper"
	ModeBarge     = "barge"
	ModeIntercept = "intercept"
)

// Group ring strategies.
const (
	// StrategyRingAll rings every free agent of the group at once.
	StrategyRingAll = "ring-all"
	// StrategyRoundRobin rings free agents one at a time, starting after
	// the agent rung first last time.
	StrategyRoundRobin = "round-robin"
	// StrategyLongestIdle rings the free agent idle the longest first.
	StrategyLongestIdle = "longest-idle"
)

// RTP latching modes (media.latching).
const (
	LatchingNAT    = "nat"
	LatchingStrict = "strict"
)

// In-kernel relay modes (media.kernel_relay).
const (
	KernelRelayAuto = "auto"
	KernelRelayOff  = "off"
	KernelRelayOn   = "on"
)

// Modes of the mixer's batched sends (media.io_uring).
const (
	IOUringAuto = "auto"
	IOUringOff  = "off"
	IOUringOn   = "on"
)

// How the media receive loops are scheduled (media.receive_threads).
const (
	ReceiveDedicated = "dedicated"
	ReceiveShared    = "shared"
)

// Log formats and levels.
const (
	LogText  = "text"
	LogJSON  = "json"
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

// allModes returns the four supervision modes in escalating order. A
// function, not a package variable, so no caller can change the list.
func allModes() []string {
	return []string{ModeListen, ModeWhisper, ModeBarge, ModeIntercept}
}

// How a waiting caller is answered (tenants[].groups[].queue.answer).
const (
	// QueueAnswer answers the caller with 200 before the music.
	QueueAnswer = "answer"
	// QueueEarlyMedia plays the music as early media (183): the call is
	// not answered, for carriers that bill on answer.
	QueueEarlyMedia = "early_media"
)

// What periodic announcements tell (tenants[].groups[].queue.announce).
const (
	AnnounceBoth     = "both"
	AnnouncePosition = "position"
	AnnounceWait     = "wait"
	AnnounceNone     = "none"
)
