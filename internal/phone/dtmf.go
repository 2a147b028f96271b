package phone

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// dtmfPT is the telephone-event payload type the phone offers.
const dtmfPT = 101

// dtmfFrames is how many 20 ms packets one digit lasts (160 ms).
const dtmfFrames = 8

// dtmfEvent is an RFC 4733 event being sent: one packet per frame with a
// growing duration, all with the event's start timestamp, and the final
// packet (E bit) sent three times, as phones do.
type dtmfEvent struct {
	on    bool
	code  byte
	ts    uint32
	frame int // packets sent so far
}

func newDTMFEvent(d byte, ts uint32) dtmfEvent {
	code := byte(0)
	switch {
	case d >= '0' && d <= '9':
		code = d - '0'
	case d == '*':
		code = 10
	case d == '#':
		code = 11
	case d >= 'A' && d <= 'D':
		code = 12 + d - 'A'
	}
	return dtmfEvent{on: true, code: code, ts: ts}
}

func (e *dtmfEvent) active() bool { return e.on }

// send writes this frame's packet(s) and returns the next sequence number.
func (e *dtmfEvent) send(s *Stream, seq uint16) uint16 {
	e.frame++
	end := e.frame == dtmfFrames
	copies := 1
	if end {
		copies = 3
	}
	var pkt [16]byte
	pkt[0], pkt[1] = 0x80, dtmfPT
	if e.frame == 1 {
		pkt[1] |= 0x80 // marker: start of the event
	}
	binary.BigEndian.PutUint32(pkt[4:], e.ts)
	binary.BigEndian.PutUint32(pkt[8:], s.ssrc)
	pkt[12] = e.code
	pkt[13] = 10 // volume −10 dBm0
	if end {
		pkt[13] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[14:], uint16(e.frame*160))
	d := s.dest.Load()
	for range copies {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		seq++
		if d != nil {
			_, _ = s.conn.WriteToUDPAddrPort(pkt[:], *d)
		}
	}
	if end {
		*e = dtmfEvent{}
	}
	return seq
}

// SendDigit sends one DTMF digit ('0'-'9', '*', '#', 'A'-'D') in the RTP
// stream as an RFC 4733 telephone-event, in place of audio for 160 ms.
func (s *Stream) SendDigit(d byte) { s.digits <- d }

// Info sends a DTMF digit as SIP INFO (application/dtmf-relay) in the
// call's dialog and returns the response status.
func (s *Session) Info(ctx context.Context, digit byte) (int, error) {
	var target sip.Uri
	switch {
	case s.cs != nil:
		target = s.cs.InviteResponse.Contact().Address
	case s.ss != nil:
		target = s.ss.InviteRequest.Contact().Address
	}
	req := sip.NewRequest(sip.INFO, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", digit)))
	var (
		res *sip.Response
		err error
	)
	if s.cs != nil {
		res, err = s.cs.Do(ctx, req)
	} else {
		res, err = s.ss.Do(ctx, req)
	}
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}
