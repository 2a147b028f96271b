package b2bua

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Reliable provisional responses toward a caller that requires them
// (RFC 3262 §3): each carries an RSeq and is retransmitted, T1 doubling,
// until the caller's PRACK; only one is in flight at a time; a 2xx waits
// for the PRACK of a provisional that carried SDP; and a provisional never
// acknowledged within 64·T1 makes earshot refuse the INVITE with a 5xx.
// They are part of earshot's answer to the INVITE: the uasInvite keeps
// them, in reliableProvs.

// reliableProvs is the RFC 3262 state of a uasInvite.
type reliableProvs struct {
	required bool          // the INVITE has Require: 100rel
	rseq     uint32        // the last RSeq sent
	inFlight *reliableProv // the provisional awaiting PRACK
	next     *provisional  // the next one, sent once inFlight is PRACKed
	// early: the caller got the SDP answer in a reliable provisional, so
	// the 2xx carries none.
	early bool
	// pendingFinal is a 2xx held until the PRACK of an SDP-carrying
	// provisional.
	pendingFinal func()
	giveUp       func() // the owner's reaction to a provisional never PRACKed
}

// reliableProv is a reliable provisional sent and not yet acknowledged.
type reliableProv struct {
	res   *sip.Response
	rseq  uint32
	sdp   bool        // it carried the SDP answer
	timer *time.Timer // the next retransmission, or the give-up
}

// provisional is a provisional response waiting for its turn.
type provisional struct {
	code   int
	phrase string
	body   []byte
	hdrs   []sip.Header
}

// provisional sends a 180 or 183, reliably if the INVITE requires it;
// giveUp runs (on the owner's loop) if a reliable one is never PRACKed.
func (u *uasInvite) provisional(code int, phrase string, body []byte, hdrs []sip.Header, giveUp func()) {
	if u.state != uasProceeding {
		return
	}
	r := &u.rel
	if !r.required {
		u.io.respond(u.in, code, phrase, body, hdrs...)
		return
	}
	r.giveUp = giveUp
	if r.inFlight != nil {
		// A later provisional with SDP matters more than a second 180.
		if r.next == nil || body != nil {
			r.next = &provisional{code: code, phrase: phrase, body: body, hdrs: hdrs}
		}
		return
	}
	r.rseq++
	hdrs = append(hdrs[:len(hdrs):len(hdrs)], sip.NewHeader("Require", "100rel"),
		sip.NewHeader("RSeq", strconv.FormatUint(uint64(r.rseq), 10)))
	p := &reliableProv{rseq: r.rseq, sdp: body != nil}
	p.res = u.io.respond(u.in, code, phrase, body, hdrs...)
	r.early = r.early || p.sdp
	r.inFlight = p
	u.retransmitProv(p, sip.T1, 0)
}

// retransmitProv resends p after interval, doubling it, until the PRACK
// or a final response; past 64·T1 it gives up.
func (u *uasInvite) retransmitProv(p *reliableProv, interval, elapsed time.Duration) {
	deadline := 64 * sip.T1
	wait := min(interval, deadline-elapsed)
	p.timer = u.io.after(wait, func() {
		if u.state != uasProceeding || u.rel.inFlight != p {
			return
		}
		if elapsed += wait; elapsed >= deadline {
			u.rel.inFlight, u.rel.pendingFinal = nil, nil
			u.rel.giveUp()
			return
		}
		u.io.resend(u.in, p.res)
		u.retransmitProv(p, 2*interval, elapsed)
	})
}

// acceptAfterPrack sends the 2xx as accept does, or, while a provisional
// that carried SDP awaits its PRACK, once that PRACK came (RFC 3262 §3).
// A queued provisional is moot either way.
func (u *uasInvite) acceptAfterPrack(body []byte, hdrs []sip.Header, giveUp func()) {
	u.rel.next = nil
	if p := u.rel.inFlight; p != nil && p.sdp {
		u.rel.pendingFinal = func() { u.accept(body, hdrs, giveUp) }
		return
	}
	u.accept(body, hdrs, giveUp)
}

// prack takes a PRACK: it must acknowledge the reliable provisional in
// flight, or it gets 481 (RFC 3262 §3).
func (u *uasInvite) prack(in *inbound) {
	r := &u.rel
	p := r.inFlight
	rseq, cseq, method, ok := parseRAck(in.req)
	if p == nil || !ok || rseq != p.rseq || cseq != u.in.req.CSeq().SeqNo || method != sip.INVITE {
		u.io.respond(in, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	p.timer.Stop()
	r.inFlight = nil
	u.io.respond(in, 200, "OK", nil)
	if next := r.next; next != nil && !u.answered() {
		r.next = nil
		u.provisional(next.code, next.phrase, next.body, next.hdrs, r.giveUp)
	}
	if send := r.pendingFinal; send != nil && (r.inFlight == nil || !r.inFlight.sdp) {
		r.pendingFinal = nil
		send()
	}
}

// stop stops a pending retransmission.
func (r *reliableProvs) stop() {
	if r.inFlight != nil {
		r.inFlight.timer.Stop()
	}
}

// parseRAck reads "RAck: <rseq> <cseq> <method>".
func parseRAck(req *sip.Request) (rseq, cseq uint32, method sip.RequestMethod, ok bool) {
	h := req.GetHeader("RAck")
	if h == nil {
		return 0, 0, "", false
	}
	f := strings.Fields(h.Value())
	if len(f) != 3 {
		return 0, 0, "", false
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	n, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, "", false
	}
	return uint32(r), uint32(n), sip.RequestMethod(strings.ToUpper(f[2])), true
}
