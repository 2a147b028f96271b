// Package webrtc terminates the transport of a WebRTC media stream for one
// leg of an rtpengine session: ICE-lite, DTLS-SRTP key exchange and SRTP
// and SRTCP protection, over a UDP socket the caller owns and reads.
//
// It does not read sockets. rtpengine's receive loop classifies each
// datagram received on a WebRTC leg by its first byte (Classify, RFC 7983)
// and hands it to the leg's Transport: a STUN binding request to
// HandleSTUN, a DTLS record to HandleDTLS, SRTP and SRTCP to UnprotectRTP
// and UnprotectRTCP, which decrypt in place. Everything the transport sends
// — STUN responses, DTLS flights, SRTP and SRTCP — leaves through the
// Config.Send function, which writes one datagram from the leg's socket.
//
// # ICE-lite
//
// earshot is an ICE-lite agent (RFC 8445 §2.5): it has a single host
// candidate, the leg's RTP port on the advertised address, and never
// sends connectivity checks; it answers them. A binding request is
// answered only when its USERNAME is "<local ufrag>:<remote ufrag>" and
// its MESSAGE-INTEGRITY verifies with the local password (and its
// FINGERPRINT, if present, is right). A request that fails any check is
// dropped without an answer, so the port cannot be used to reflect
// traffic. The first authenticated request, and later any request
// carrying USE-CANDIDATE, selects its source as the peer's address:
// HandleSTUN reports it (Config.OnSelect is told before the answer
// leaves), and the caller sends media there and accepts media from there
// only.
//
// # DTLS-SRTP
//
// After the first authenticated binding request the transport starts the
// DTLS handshake (pion/dtls) on a goroutine it owns, as server when the
// SDP made earshot passive and as client when active, with the engine's
// Certificate. The peer's certificate must match the fingerprint its SDP
// announced, or the handshake fails and no media flows (State reports
// StateFailed). On success the SRTP master keys are exported (RFC 5764)
// into two pion/srtp contexts, one per direction, published atomically.
//
// # Per packet
//
// UnprotectRTP and UnprotectRTCP decrypt in place into the caller's
// buffer; WriteRTP and WriteRTCP encrypt into a buffer the transport owns
// and send. None of them allocates. The receive side is used by the leg's
// receive loop only; the send side may be used by several goroutines (the
// relay of the other leg, the mixer's sink), so each direction has a mutex
// that guards its context, its header scratch space and, for sending, the
// output buffer until the datagram is written.
//
// # Lifecycle
//
// Close stops the DTLS goroutine and waits for it; it is idempotent and
// every method is safe (a no-op or an error) after it.
package webrtc
