package rtpengine

import "encoding/binary"

// RTP fixed header (RFC 3550 §5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|X|  CC   |M|     PT      |       sequence number         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           timestamp                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           synchronization source (SSRC) identifier            |
//	+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//	|            contributing source (CSRC) identifiers             |
//	|                             ....                              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The relay reads and writes these fields in place with encoding/binary
// rather than through pion/rtp's Packet, so nothing is decoded into a struct
// and nothing allocates per packet.
const rtpFixedHeader = 12

// validRTP reports whether pkt is a plausible RTP packet: version 2, long
// enough for its CSRC list, header extension and padding, and not an RTCP
// packet multiplexed onto the RTP port (RFC 5761 §4: payload types 72-76
// with the marker bit set are RTCP types 200-204), which earshot does not
// negotiate.
func validRTP(pkt []byte) bool {
	if len(pkt) < rtpFixedHeader || pkt[0]>>6 != 2 {
		return false
	}
	if pt := pkt[1] & 0x7f; pt >= 72 && pt <= 76 {
		return false
	}
	n := rtpFixedHeader + int(pkt[0]&0x0f)*4
	if pkt[0]&0x10 != 0 {
		if len(pkt) < n+4 {
			return false
		}
		n += 4 + int(binary.BigEndian.Uint16(pkt[n+2:]))*4
	}
	if len(pkt) < n {
		return false
	}
	if pkt[0]&0x20 != 0 {
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || n+pad > len(pkt) {
			return false
		}
	}
	return true
}

// rtpFields are the header fields the rewrite reads.
type rtpFields struct {
	pt   uint8
	seq  uint16
	ts   uint32
	ssrc uint32
}

// readRTP reads the rewritable fields of a packet validRTP accepted.
func readRTP(pkt []byte) rtpFields {
	return rtpFields{
		pt:   pkt[1] & 0x7f,
		seq:  binary.BigEndian.Uint16(pkt[2:]),
		ts:   binary.BigEndian.Uint32(pkt[4:]),
		ssrc: binary.BigEndian.Uint32(pkt[8:]),
	}
}

// writeRTP overwrites sequence number, timestamp and SSRC in place and sets
// the marker bit when marker is true (it never clears it).
func writeRTP(pkt []byte, seq uint16, ts, ssrc uint32, marker bool) {
	if marker {
		pkt[1] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[2:], seq)
	binary.BigEndian.PutUint32(pkt[4:], ts)
	binary.BigEndian.PutUint32(pkt[8:], ssrc)
}

// clockRates maps payload type to RTP clock rate, learnt from the SDP of a
// session (rtpmap) and the static table of RFC 3551. Zero means unknown.
type clockRates [128]uint32

// defaultClockRate is assumed for payload types the SDP did not describe:
// almost all telephony audio runs an 8 kHz RTP clock (G.722 included).
const defaultClockRate = 8000

func (c *clockRates) rate(pt uint8) uint32 {
	if c == nil || c[pt&0x7f] == 0 {
		return defaultClockRate
	}
	return c[pt&0x7f]
}

// rtpPayload returns the payload of a packet validRTP accepted: after the
// CSRC list and header extension, without padding.
func rtpPayload(pkt []byte) []byte {
	n := rtpFixedHeader + int(pkt[0]&0x0f)*4
	if pkt[0]&0x10 != 0 {
		n += 4 + int(binary.BigEndian.Uint16(pkt[n+2:]))*4
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 {
		end -= int(pkt[end-1])
	}
	if end < n {
		return nil
	}
	return pkt[n:end]
}
