package webrtc

// State is the life of a Transport:
//
//	New ──first valid ICE check──▶ Connecting ──DTLS done──▶ Connected
//	                                    │
//	                                    └──handshake failed──▶ Failed
//
// and any state ──Close──▶ Closed.
type State int32

// The states.
const (
	StateNew        State = iota // no valid ICE check yet
	StateConnecting              // ICE selected the peer; DTLS handshake running
	StateConnected               // SRTP keys in place: media flows
	StateFailed                  // the DTLS handshake failed (wrong fingerprint, timeout)
	StateClosed                  // Close was called
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}
