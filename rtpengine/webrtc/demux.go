package webrtc

// Kind is what a datagram on a WebRTC leg's socket carries, told by its
// first byte (RFC 7983 §7):
//
//	            +----------------+
//	            |        [0..3] -+--> STUN
//	            |      [16..19] -+--> ZRTP (not used)
//	packet -->  |      [20..63] -+--> DTLS
//	            |      [64..79] -+--> TURN channel (not used)
//	            |    [128..191] -+--> RTP/RTCP
//	            +----------------+
type Kind uint8

// The kinds of datagram.
const (
	KindOther Kind = iota // nothing a WebRTC leg takes: dropped
	KindSTUN
	KindDTLS
	KindRTP  // SRTP
	KindRTCP // SRTCP, multiplexed on the RTP port (RFC 5761)
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindSTUN:
		return "stun"
	case KindDTLS:
		return "dtls"
	case KindRTP:
		return "rtp"
	case KindRTCP:
		return "rtcp"
	}
	return "other"
}

// Classify tells what b carries. RTP and RTCP, which share the first-byte
// range, are told apart by the second byte: RTCP packet types 192–223
// (RFC 5761 §4) would be RTP payload types 64–95 with the marker bit set,
// which are never negotiated.
func Classify(b []byte) Kind {
	if len(b) == 0 {
		return KindOther
	}
	switch c := b[0]; {
	case c <= 3:
		return KindSTUN
	case c >= 20 && c <= 63:
		return KindDTLS
	case c >= 128 && c <= 191:
		if len(b) >= 2 && b[1] >= 192 && b[1] <= 223 {
			return KindRTCP
		}
		return KindRTP
	}
	return KindOther
}
