package b2bua

// leg is one SIP dialog of a call: the caller's (earshot is UAS) or a
// callee's (earshot is UAC; several while ringing).
type leg struct {
	call  *Call
	side  int
	d     dialog
	agent string       // extension of the user this leg rings, if any
	sup   *supervision // set on a supervisor's dialog

	// uas is earshot's answer to the INVITE that made this dialog: the
	// caller's leg and a supervisor's dial-in; nil on legs earshot called.
	uas *uasInvite

	// uac is the INVITE earshot sent to make this dialog: the callee's
	// forks and a supervisor rung through the API; nil on UAS legs.
	uac *uacInvite

	// offer is a re-INVITE or UPDATE received on this leg that waits for
	// the other leg's answer.
	offer *inbound
	// earlySDP is what a callee's early answer (183 with SDP) turned into
	// for the caller, kept for a 2xx that repeats no SDP (RFC 3262).
	earlySDP []byte
	sdpSent  []byte // the SDP earshot last sent on this dialog (UAC legs)
	// reoffered is the CSeq of a re-INVITE without SDP that got earshot's
	// offer in its 2xx, 0 if none: the answer comes in the ACK with that
	// CSeq (ACKs may be handled out of order, so the number matters).
	reoffered uint32
	// onHold: the other party holds this leg and it hears music on hold.
	onHold bool
}
