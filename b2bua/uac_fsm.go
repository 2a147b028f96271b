package b2bua

// The state table of an INVITE earshot sent (uac.go): to an agent's phone,
// a carrier, or a supervisor's phone rung through the API. The responses
// the transaction delivers, and the owner's decision to give the call up,
// drive it (RFC 3261 §13.2.2, §9.1 for CANCEL, §13.2.2.4 for a 2xx that
// arrives after the owner gave up).
//
//	state      event        next       action
//	calling    provisional  early      confirm the early dialog if tagged; PRACK a reliable one
//	early      provisional  early      (the same)
//	calling    success      answered   confirm the dialog, ACK
//	early      success      answered   (the same)
//	calling    failure      rejected   (the owner may resend: 401/407, 422)
//	early      failure      rejected
//	calling    cancel       held       nothing yet: no CANCEL before a provisional (§9.1)
//	held       provisional  canceling  send the CANCEL now
//	held       success      abandoned  ACK, then BYE
//	held       failure      rejected
//	held       done         failed
//	early      cancel       canceling  send CANCEL
//	calling    abandon      canceling  send CANCEL at once: the call is over and
//	early      abandon      canceling  nothing will be there to send it later
//	held       abandon      canceling
//	calling    done         failed     the transaction died without a final response
//	early      done         failed
//	rejected   resend       calling    a new INVITE in the same dialog (next CSeq)
//	answered   success      answered   a retransmitted 2xx: ACK again
//	canceling  success      abandoned  answered despite the CANCEL: ACK, then BYE
//	canceling  failure      rejected   the 487 (or another final) to the CANCELed INVITE
//	canceling  done         failed
//
// Any other event is ignored: a provisional after the final response, a
// second CANCEL, a transaction end after the final response. A reliable
// provisional that repeats or skips its dialog's RSeq is dropped after the
// table, before its PRACK (RFC 3262 §4; uacInvite.sequence).

// uacState is where an INVITE earshot sent stands.
type uacState uint8

// UAC states.
const (
	uacCalling   uacState = iota // sent; no provisional with a dialog yet
	uacEarly                     // a provisional came
	uacAnswered                  // a 2xx came and was ACKed
	uacHeld                      // given up before any provisional: CANCEL waits for one
	uacCanceling                 // CANCEL sent, the final response pending
	uacRejected                  // a final non-2xx came
	uacAbandoned                 // a 2xx came after CANCEL: ACKed and BYEd
	uacFailed                    // the transaction ended without a final response
	numUACStates
)

// uacEvent is what happens to it.
type uacEvent uint8

// UAC events.
const (
	uacProvisional uacEvent = iota // a 1xx other than 100
	uacSuccess                     // a 2xx
	uacFailure                     // a final non-2xx
	uacCancel                      // the owner gives the INVITE up
	uacDone                        // the transaction ended
	uacResend                      // the owner sends the INVITE again
	uacAbandon                     // the owner ends: CANCEL now, whatever came
)

var uacTransitions = [numUACStates]map[uacEvent]uacState{
	uacCalling:   {uacProvisional: uacEarly, uacSuccess: uacAnswered, uacFailure: uacRejected, uacCancel: uacHeld, uacAbandon: uacCanceling, uacDone: uacFailed},
	uacHeld:      {uacProvisional: uacCanceling, uacSuccess: uacAbandoned, uacFailure: uacRejected, uacAbandon: uacCanceling, uacDone: uacFailed},
	uacEarly:     {uacProvisional: uacEarly, uacSuccess: uacAnswered, uacFailure: uacRejected, uacCancel: uacCanceling, uacAbandon: uacCanceling, uacDone: uacFailed},
	uacAnswered:  {uacSuccess: uacAnswered},
	uacCanceling: {uacSuccess: uacAbandoned, uacFailure: uacRejected, uacDone: uacFailed},
	uacRejected:  {uacResend: uacCalling},
	uacAbandoned: {},
	uacFailed:    {},
}

func (s uacState) String() string {
	return [...]string{"calling", "early", "answered", "held", "canceling", "rejected", "abandoned", "failed", "uacState(?)"}[min(int(s), int(numUACStates))]
}
