package b2bua

import "net/netip"

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
	// After LocalOffer it returns instead, for the answer to earshot's own
	// offer, an offer for the other leg narrowed to the settled codec, and
	// for that leg's answer nil: nothing is left to send.
	Answer(from int, sdp []byte) ([]byte, error)
	// LocalOffer returns earshot's own SDP offer to send on leg to, for a
	// call whose other leg sent no offer (an INVITE without SDP).
	LocalOffer(to int) ([]byte, error)
	// WebRTCOffer returns the last offer made for leg to (by Offer,
	// LocalOffer or AnswerLocal) in its WebRTC form (DTLS-SRTP, ICE-lite,
	// rtcp-mux), for a browser. The plain form stays valid: the same
	// offer may go to a SIP phone and a browser at once, and Answer takes
	// either kind of answer.
	WebRTCOffer(to int) ([]byte, error)
	// OnTransportFailed reports, from a media goroutine and without
	// blocking, that a WebRTC leg's transport failed for good (reason:
	// "dtls-failed", "ice-failed", "closed", "consent-expired"): leg is
	// LegCaller, LegCallee or a MediaLeg's ID. Nil stops it.
	OnTransportFailed(fn func(leg int, reason string))
	// SetSignalSource tells the session the IP address leg's signalling
	// comes from (the source of its INVITE, or of the response that
	// carried its SDP). RTP latching may trust that address for a phone
	// behind NAT; any other source never gets the call's media.
	SetSignalSource(leg int, ip netip.Addr) error
	// Reoffer returns the SDP last sent on leg to as an offer again, for a
	// re-INVITE without SDP received on that leg; Answer(to, …) takes the
	// peer's answer from its ACK and returns nil.
	Reoffer(to int) ([]byte, error)
	// Resume is Reoffer with the stream made sendrecv (a new o= version):
	// earshot's own re-INVITE taking a party off a hold it had relayed,
	// once the party who held it has left.
	Resume(to int) ([]byte, error)
	// AddLeg allocates media for a supervisor's phone on this call. The
	// leg is not heard and hears nothing until MediaLeg.Attach. onDigit is
	// called, from a media goroutine and without blocking, once for every
	// RFC 4733 DTMF digit the phone sends ('0'-'9', '*', '#', 'A'-'D').
	AddLeg(onDigit func(digit byte)) (MediaLeg, error)
	// Cue plays a short audible cue into what a leg hears: LegCaller,
	// LegCallee or a MediaLeg's ID. It needs the call to be mixed (a
	// supervisor attached).
	Cue(leg int, c Cue) error
	// AnswerLocal answers the offer received on leg from itself, before
	// the other leg has a peer (a caller entering a queue): it returns
	// the answer and, for the other leg, the offer last returned by
	// Offer narrowed to the settled codec.
	AnswerLocal(from int, offer []byte) (answer, other []byte, err error)
	// Play makes leg hear p instead of a peer, from now on: music and
	// announcements for a caller in a queue, a confirmation tone. A new
	// Play replaces the last.
	Play(leg int, p Playback) error
	// StopPlay ends what Play started on leg.
	StopPlay(leg int) error
	// Mixable reports whether both parties' codecs can be mixed (G.711):
	// a supervisor can join only then.
	Mixable() bool
	// SetAgentLeg says which leg the mix treats as the agent: LegCallee
	// (the default) or LegCaller, for a call the agent placed. Supervisors
	// whisper to the agent; Promote needs it to be the callee.
	SetAgentLeg(leg int) error
	// OnDigit reports the RFC 4733 digits received on leg (LegCaller or
	// LegCallee) to fn, from a media goroutine and without blocking; nil
	// stops it.
	OnDigit(leg int, fn func(digit byte)) error
	// Close releases the session's sockets and ports, extra legs
	// included. Idempotent.
	Close() error
}

// Playback is what earshot plays to a leg that has no peer to hear. The
// media layer owns the sounds: each tenant's group may have its own music
// and prompts.
type Playback struct {
	Tenant, Group string
	// Announce is said first (welcome, position, estimated wait); then
	// the group's music loops.
	Announce Announcement
	// Prompt, if set, is a single named prompt (e.g. "queue-callback")
	// played instead, followed by silence.
	Prompt string
	// Confirm plays the short confirmation tone of a feature code instead.
	Confirm bool
}

// MediaLeg is the media of a supervisor's phone on a call.
type MediaLeg interface {
	// ID names the leg for Cue; it is never LegCaller or LegCallee.
	ID() int
	// AnswerOffer takes the phone's SDP offer (it dialled in, or sent a
	// re-INVITE) and returns earshot's answer.
	AnswerOffer(offer []byte) ([]byte, error)
	// Offer returns earshot's SDP offer for calling the phone.
	Offer() ([]byte, error)
	// WebRTCOffer is Offer for calling a browser (see
	// MediaSession.WebRTCOffer).
	WebRTCOffer() ([]byte, error)
	// TakeAnswer takes the phone's answer to Offer.
	TakeAnswer(answer []byte) error
	// SetSignalSource tells the leg the IP address the phone's
	// signalling comes from; see MediaSession.SetSignalSource.
	SetSignalSource(ip netip.Addr) error
	// Attach puts the leg into the call's mix in mode, or switches the
	// mode of an attached leg. The first attach moves the call from the
	// relay to the mixer without a gap in either party's stream.
	Attach(mode Mode) error
	// Promote completes an intercept: this leg takes the callee's place
	// (LegCallee now means this leg), the old callee's media is released.
	Promote() error
	// Close detaches and frees the leg; the call returns to the relay
	// when no supervisor is left. Idempotent.
	Close() error
}

// Cue is an audible signal earshot plays into a call.
type Cue int

// Cues.
const (
	CueBeep   Cue = iota + 1 // a supervisor barged in (to customer and agent)
	CueNotify                // monitoring started (to the agent, by tenant policy)
	CueError                 // a refused request (to the supervisor who made it)
)

// StatusError is an error that maps to a SIP response status, so that lower
// layers (media, routing) can say what to answer without importing SIP.
type StatusError interface {
	error
	SIPStatus() int
}
