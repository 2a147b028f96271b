package rtpengine

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by the engine wraps one of them, so
// callers test with errors.Is; the wrapping error also carries the SIP status
// the signalling layer should answer with (see SIPStatus).
var (
	// ErrUnparseableSDP means the SDP could not be parsed at all (SIP 400).
	ErrUnparseableSDP = errors.New("rtpengine: unparseable SDP")
	// ErrNoAudio means the SDP has no usable audio stream: none at all, or
	// only disabled ones (port 0) (SIP 488).
	ErrNoAudio = errors.New("rtpengine: no usable audio stream")
	// ErrSRTPOnly means audio was offered only over secure profiles earshot
	// does not terminate: SDES (RTP/SAVP and RTP/SAVPF with a=crypto), or
	// DTLS where the leg cannot take it (SIP 488). WebRTC's
	// UDP/TLS/RTP/SAVPF is terminated on call legs (see webrtc.go).
	ErrSRTPOnly = errors.New("rtpengine: only secure RTP profiles offered")
	// ErrBadWebRTC means a WebRTC audio stream (UDP/TLS/RTP/SAVPF) whose
	// SDP lacks what earshot needs to terminate it: ICE credentials, a
	// usable a=fingerprint, a=rtcp-mux (SIP 488).
	ErrBadWebRTC = errors.New("rtpengine: unusable WebRTC stream")
	// ErrBadAddress means the connection address of the audio stream is
	// missing, not an IP literal, or of a family earshot cannot reach (SIP 488).
	ErrBadAddress = errors.New("rtpengine: unusable connection address")
	// ErrSDPTooLarge means an SDP body past earshot's bounds: over 16 KiB,
	// a line over 1 KiB, more than 16 m-lines or 64 formats (SIP 488).
	ErrSDPTooLarge = errors.New("rtpengine: SDP too large")
	// ErrNoCommonCodec means an answer kept none of the offered formats (SIP 488).
	ErrNoCommonCodec = errors.New("rtpengine: no codec in common with the offer")
	// ErrAnswerMismatch means an answer does not fit the offer it answers,
	// e.g. a different number of m-lines (SIP 488).
	ErrAnswerMismatch = errors.New("rtpengine: answer does not match the offer")
	// ErrNoOffer means Answer was called on a leg no offer was sent to (SIP 500:
	// a bug in the caller, not in the peer).
	ErrNoOffer = errors.New("rtpengine: answer without a pending offer")
	// ErrBadLeg means a leg number that does not exist: Offer and Answer
	// take 0 or 1, Cue also the id of an open Leg (SIP 500).
	ErrBadLeg = errors.New("rtpengine: no such leg")
	// ErrNotNegotiated means Attach or Promote on a leg whose SDP exchange
	// has not settled a G.711 codec yet (SIP 500: the caller's ordering).
	ErrNotNegotiated = errors.New("rtpengine: leg has no negotiated codec")
	// ErrNotMixable means the caller's or callee's negotiated codec is not
	// G.711, which the mixer needs to supervise the call (SIP 488).
	ErrNotMixable = errors.New("rtpengine: call codec cannot be mixed")
	// ErrBadMode means Attach with a mode that is not a supervision mode
	// (SIP 500).
	ErrBadMode = errors.New("rtpengine: not a supervision mode")
	// ErrPromoted means an operation on a Leg that Promote already made the
	// callee leg (SIP 500).
	ErrPromoted = errors.New("rtpengine: leg was promoted")
	// ErrNotMixed means a cue was asked for on a session on the relay path
	// (SIP 500).
	ErrNotMixed = errors.New("rtpengine: session is not mixed")
	// ErrBadCue means an unknown Cue value (SIP 500).
	ErrBadCue = errors.New("rtpengine: unknown cue")
	// ErrNoPorts means the port range is exhausted (SIP 503).
	ErrNoPorts = errors.New("rtpengine: no free RTP ports")
	// ErrClosed means the session or the engine is closed (SIP 503).
	ErrClosed = errors.New("rtpengine: closed")
)

// statusError wraps a sentinel with detail and the SIP status to answer.
// It satisfies the signalling layer's StatusError interface structurally.
type statusError struct {
	status int
	err    error // a sentinel, possibly wrapped with detail
}

func (e *statusError) Error() string { return e.err.Error() }

// Unwrap lets errors.Is find the sentinel.
func (e *statusError) Unwrap() error { return e.err }

// SIPStatus is the SIP response status the signalling layer should send.
func (e *statusError) SIPStatus() int { return e.status }

// statusOf maps a sentinel to its SIP status.
func statusOf(sentinel error) int {
	switch sentinel {
	case ErrUnparseableSDP:
		return 400
	case ErrNoAudio, ErrSRTPOnly, ErrBadWebRTC, ErrBadAddress, ErrNoCommonCodec, ErrAnswerMismatch, ErrNotMixable, ErrSDPTooLarge:
		return 488
	case ErrNoPorts, ErrClosed:
		return 503
	default:
		return 500
	}
}

// newError builds a status-carrying error around sentinel. detail, when
// not empty, is appended after a colon.
func newError(sentinel error, detail string) error {
	err := sentinel
	if detail != "" {
		err = fmt.Errorf("%w: %s", sentinel, detail)
	}
	return &statusError{status: statusOf(sentinel), err: err}
}
