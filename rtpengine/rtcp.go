package rtpengine

import "encoding/binary"

// RTCP packet types (RFC 3550 §12.1).
const (
	rtcpSR   = 200
	rtcpRR   = 201
	rtcpSDES = 202
)

// Every RTCP packet of a compound starts with this header (RFC 3550 §6.4):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|    RC   |   PT=SR=200   |             length            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         SSRC of sender                        |
//	+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//
// An SR continues with NTP timestamp (8), RTP timestamp (4), packet and
// octet counts (4+4), then RC report blocks of 24 octets; an RR goes
// straight to its report blocks. A report block starts with the SSRC it
// reports on, then loss (4) and the extended highest sequence number (4).
const (
	rtcpHeader      = 4
	srSenderInfo    = 24 // sender SSRC + sender info
	rrSenderInfo    = 4  // sender SSRC
	reportBlockSize = 24
)

// rtcpXlate says how to translate a compound RTCP packet relayed from one
// leg to the other.
type rtcpXlate struct {
	// fwd is the stream earshot sends to the receiving leg. The sender SSRC
	// of SR/RR and the matching SDES chunk become fwd.ssrc; an SR's RTP
	// timestamp is moved into fwd's timestamp space.
	fwd rtcpView
	// rev is the stream earshot sends to the sending leg. Report blocks
	// about rev.ssrc describe what the sender received from earshot; they
	// are turned back into reports about rev's current input (the SSRC and
	// sequence space the receiving leg actually sends).
	rev rtcpView
}

// rewriteRTCP validates the compound RTCP packet pkt and, when x is not nil,
// translates it in place. It returns false, possibly after a partial
// rewrite, when pkt is malformed: the caller must then drop it.
func rewriteRTCP(pkt []byte, x *rtcpXlate) bool {
	if len(pkt) < rtcpHeader {
		return false
	}
	var sender uint32
	haveSender := false
	for off := 0; off < len(pkt); {
		if len(pkt)-off < rtcpHeader || pkt[off]>>6 != 2 {
			return false
		}
		count := int(pkt[off] & 0x1f)
		pt := pkt[off+1]
		size := (int(binary.BigEndian.Uint16(pkt[off+2:])) + 1) * 4
		if size > len(pkt)-off {
			return false
		}
		// RFC 5761 §4: RTCP packet types live in 192..223; anything else is
		// RTP or garbage.
		if pt < 192 || pt > 223 {
			return false
		}
		body := pkt[off+rtcpHeader : off+size]
		switch pt {
		case rtcpSR, rtcpRR:
			info := rrSenderInfo
			if pt == rtcpSR {
				info = srSenderInfo
			}
			if len(body) < info+count*reportBlockSize {
				return false
			}
			if !haveSender {
				sender, haveSender = binary.BigEndian.Uint32(body), true
			}
			if x != nil {
				translateReport(body, pt == rtcpSR, info, count, x)
			}
		case rtcpSDES:
			if !walkSDES(body, count, sender, haveSender, x) {
				return false
			}
		}
		off += size
	}
	return true
}

// translateReport rewrites one SR or RR body (after the common header).
func translateReport(body []byte, sr bool, info, count int, x *rtcpXlate) {
	binary.BigEndian.PutUint32(body, x.fwd.ssrc)
	if sr && x.fwd.started {
		ts := binary.BigEndian.Uint32(body[12:])
		binary.BigEndian.PutUint32(body[12:], ts+x.fwd.tsOffset)
	}
	if !x.rev.started {
		return
	}
	for i := range count {
		rb := body[info+i*reportBlockSize:]
		if binary.BigEndian.Uint32(rb) != x.rev.ssrc {
			continue
		}
		binary.BigEndian.PutUint32(rb, x.rev.inSSRC)
		ext := binary.BigEndian.Uint32(rb[8:])
		binary.BigEndian.PutUint32(rb[8:], ext-uint32(x.rev.seqOffset))
	}
}

// walkSDES validates the count chunks of an SDES body (RFC 3550 §6.5): each
// is an SSRC followed by items (type, length, text) ended by a null octet
// and padded to 32 bits. The chunk describing the sender (the SR/RR sender
// SSRC, or the first chunk when the compound had no SR/RR) gets fwd's SSRC.
func walkSDES(body []byte, count int, sender uint32, haveSender bool, x *rtcpXlate) bool {
	i := 0
	for c := range count {
		if len(body)-i < 4 {
			return false
		}
		chunk := body[i:]
		ssrc := binary.BigEndian.Uint32(chunk)
		i += 4
		for {
			if i >= len(body) {
				return false
			}
			if body[i] == 0 { // end of items, then pad to the next word
				i = (i + 4) &^ 3
				break
			}
			if i+2 > len(body) {
				return false
			}
			i += 2 + int(body[i+1])
		}
		if i > len(body) {
			return false
		}
		if x != nil && ((haveSender && ssrc == sender) || (!haveSender && c == 0)) {
			binary.BigEndian.PutUint32(chunk, x.fwd.ssrc)
		}
	}
	return true
}
