package b2bua

// The state table of earshot's answer to an INVITE it received (uas.go):
// the caller's INVITE and a supervisor's dial-in alike. RFC 3261 leaves the
// 2xx to the transaction user (§13.3.1.4, §17.2.1): it is retransmitted
// until the ACK, and the ACK is matched by the INVITE's CSeq (ACKs may be
// handled out of order with later requests).
//
//	state       event        next        action
//	proceeding  accept       accepted    send the 2xx; over UDP, retransmit after T1
//	proceeding  reject       rejected    send the final non-2xx (sipgo's transaction absorbs its ACK)
//	proceeding  end          ended       (the owner answers 487 first, if it must)
//	accepted    retransmit   accepted    resend the 2xx, interval doubled (up to T2)
//	accepted    ack          confirmed   stop retransmitting; a late offer's answer is in the ACK
//	accepted    timeout      gave_up     no ACK in 64·T1: the owner hangs up
//	accepted    end          ended       stop retransmitting
//	confirmed   end          ended
//	rejected    end          ended
//
// Any other event is ignored: a retransmitted ACK, a timer that lost its
// race with the ACK, a reject after the 2xx.

// uasState is where earshot's answer to a received INVITE stands.
type uasState uint8

// UAS states.
const (
	uasProceeding uasState = iota // received; provisionals may be sent
	uasAccepted                   // 2xx sent, waiting for the ACK
	uasConfirmed                  // the ACK came
	uasRejected                   // a final non-2xx sent
	uasGaveUp                     // no ACK within 64·T1
	uasEnded                      // the owner ended
	numUASStates
)

// uasEvent is what happens to it.
type uasEvent uint8

// UAS events.
const (
	uasAccept     uasEvent = iota // send a 2xx
	uasReject                     // send a final non-2xx
	uasAck                        // the ACK with the INVITE's CSeq arrived
	uasRetransmit                 // the retransmission timer fired
	uasTimeout                    // 64·T1 passed without the ACK
	uasEnd                        // the owner (call or supervision) ended
)

// uasTransitions lists, per state, the events it takes and where they
// lead. An event missing from a state's row is ignored.
var uasTransitions = [numUASStates]map[uasEvent]uasState{
	uasProceeding: {uasAccept: uasAccepted, uasReject: uasRejected, uasEnd: uasEnded},
	uasAccepted:   {uasRetransmit: uasAccepted, uasAck: uasConfirmed, uasTimeout: uasGaveUp, uasEnd: uasEnded},
	uasConfirmed:  {uasEnd: uasEnded},
	uasRejected:   {uasEnd: uasEnded},
	uasGaveUp:     {},
	uasEnded:      {},
}

func (s uasState) String() string {
	switch s {
	case uasProceeding:
		return "proceeding"
	case uasAccepted:
		return "accepted"
	case uasConfirmed:
		return "confirmed"
	case uasRejected:
		return "rejected"
	case uasGaveUp:
		return "gave_up"
	case uasEnded:
		return "ended"
	}
	return "uasState(?)"
}

func (e uasEvent) String() string {
	switch e {
	case uasAccept:
		return "accept"
	case uasReject:
		return "reject"
	case uasAck:
		return "ack"
	case uasRetransmit:
		return "retransmit"
	case uasTimeout:
		return "timeout"
	case uasEnd:
		return "end"
	}
	return "uasEvent(?)"
}
