package rtpengine

import "encoding/binary"

// A telephone-event payload (RFC 4733 §2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Every packet of one event carries the same RTP timestamp, the event's
// start; the duration grows, and the end packet (E) is usually sent three
// times. So an event is identified by its sender's SSRC and timestamp.
const eventPayload = 4

// eventDigits maps DTMF event codes 0-15 to their keys.
const eventDigits = "0123456789*#ABCD"

// digitState turns a supervisor phone's telephone-events into digits,
// exactly once per event. It belongs to the leg's RTP reader.
type digitState struct {
	have bool
	ssrc uint32
	ts   uint32
}

// receive reports the digit of a telephone-event packet (validRTP accepted
// it) to onDigit when it starts an event not seen before: the first packet
// of the event that arrives, whichever it is, so a lost start packet still
// yields the digit and the retransmitted end packets yield nothing more.
// Events other than the sixteen DTMF keys (RFC 4733 also codes tones and
// flash) are ignored.
func (d *digitState) receive(pkt []byte, onDigit func(byte)) {
	payload := rtpPayload(pkt)
	if len(payload) < eventPayload {
		return
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	if d.have && d.ssrc == ssrc && d.ts == ts {
		return
	}
	d.have, d.ssrc, d.ts = true, ssrc, ts
	if ev := payload[0]; int(ev) < len(eventDigits) && onDigit != nil {
		onDigit(eventDigits[ev])
	}
}

// consumed reports whether pkt belongs to the last event this state
// reported: after an intercept the supervisor's leg is relayed like the
// agent's, and the rest of the digit that triggered the intercept (its
// later packets and end retransmissions) must not reach the customer.
func (d *digitState) consumed(pkt []byte) bool {
	return d.have && binary.BigEndian.Uint32(pkt[8:]) == d.ssrc && binary.BigEndian.Uint32(pkt[4:]) == d.ts
}
