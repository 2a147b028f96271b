package b2bua

// Leg numbers of a media session. The caller leg is the side that sent the
// initial INVITE to earshot (the customer on inbound calls); the callee leg
// is the side earshot called (the agent, or the trunk on outbound calls).
const (
	LegCaller = 0
	LegCallee = 1
)

// Media anchors the RTP of calls. b2bua drives it with SDP as opaque bytes;
// rtpengine implements it (cmd adapts the concrete types).
type Media interface {
	// NewSession allocates media for one call. onTimeout is called once,
	// from a media goroutine, when no RTP arrived for the configured media
	// timeout; the call should then be hung up.
	NewSession(callID string, onTimeout func()) (MediaSession, error)
}

// MediaSession is the media of one call: two legs whose RTP is relayed (or
// mixed) through earshot's own sockets.
type MediaSession interface {
	// Offer takes the SDP offer received on leg from and returns the offer
	// to send on the other leg, pointing at earshot's address and port.
	Offer(from int, sdp []byte) ([]byte, error)
	// Answer takes the SDP answer received on leg from, answering the last
	// offer sent to it, and returns the answer to send on the other leg.
	Answer(from int, sdp []byte) ([]byte, error)
	// Close releases the session's sockets and ports. Idempotent.
	Close() error
}

// StatusError is an error that maps to a SIP response status, so that lower
// layers (media, routing) can say what to answer without importing SIP.
type StatusError interface {
	error
	SIPStatus() int
}
