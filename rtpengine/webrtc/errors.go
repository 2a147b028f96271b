package webrtc

import "errors"

// Errors of the package. Callers test them with errors.Is.
var (
	// ErrBadFingerprint: an a=fingerprint value that cannot be parsed, or
	// names a hash function earshot does not accept.
	ErrBadFingerprint = errors.New("webrtc: bad fingerprint")
	// ErrBadCredentials: ICE credentials missing or outside RFC 8839's
	// syntax and lengths.
	ErrBadCredentials = errors.New("webrtc: bad ICE credentials")
	// ErrNotReady: no SRTP keys yet (DTLS has not completed) or no peer
	// address selected by ICE: the packet is not sent.
	ErrNotReady = errors.New("webrtc: transport not ready")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("webrtc: transport closed")
	// ErrFingerprintMismatch: the peer's DTLS certificate does not match
	// the fingerprint of its SDP.
	ErrFingerprintMismatch = errors.New("webrtc: peer certificate does not match its fingerprint")
)

// errTooLarge: a packet larger than Config.MaxPacket.
var errTooLarge = errors.New("webrtc: packet too large")
