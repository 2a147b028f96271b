package b2bua

import "time"

// forkSet is what a call keeps about the callees it rings: the forks in
// flight (each a leg with its uacInvite), whom it tried, the offer they
// got, the ring timer, and whether the caller heard ringing yet. Owned by
// the call's loop.
type forkSet struct {
	forks []*leg
	// held are forks given up before their first provisional: their
	// CANCEL waits for one (uac_fsm.go); if the call ends first, it goes
	// at once.
	held  []*leg
	tried map[string]bool
	offer []byte      // the SDP offer sent to callees
	timer *time.Timer // the ring attempt's timeout
	rang  bool        // a 180 or 183 went to the caller
	// refused is a callee's answer that says more than "nobody took it"
	// (488: the offer is not acceptable; 6xx: decline everywhere); when
	// no callee is left it is the caller's answer, not 480.
	refused       int
	refusedReason string
}

// telling reports whether a callee's final answer should reach the caller
// if nobody answers (RFC 3261 §16.7 step 6, as a proxy chooses among its
// branches): a 6xx, or 488/415 — the offer itself is refused.
func telling(code int) bool {
	return code >= 600 || code == 488 || code == 415
}

// callerTimer is the RFC 4028 session timer on the caller's dialog: the
// caller refreshes, earshot hangs up a session that was not.
type callerTimer struct {
	interval time.Duration // zero: no session timer
	timer    *time.Timer
}
