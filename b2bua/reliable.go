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

// reliableProv is a reliable provisional sent to the caller and not yet
// acknowledged.
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
}

// sendProvisional sends a 180 or 183 to the caller, reliably if the caller
// requires it.
func (c *Call) sendProvisional(code int, phrase string, body []byte) {
	hdrs := []sip.Header{c.s.contact(c.caller.d.transport)}
	if !c.reliable {
		c.invite.respond(c.s, code, phrase, body, hdrs...)
		return
	}
	if c.prov != nil {
		// A later provisional with SDP matters more than a second 180.
		if c.provNext == nil || body != nil {
			c.provNext = &provisional{code: code, phrase: phrase, body: body}
		}
		return
	}
	c.rseq++
	hdrs = append(hdrs, sip.NewHeader("Require", "100rel"),
		sip.NewHeader("RSeq", strconv.FormatUint(uint64(c.rseq), 10)))
	p := &reliableProv{rseq: c.rseq, sdp: body != nil}
	p.res = c.invite.respond(c.s, code, phrase, body, hdrs...)
	c.answeredEarly = c.answeredEarly || p.sdp
	c.prov = p
	c.retransmitProv(p, sip.T1, 0)
}

// retransmitProv resends p after interval, doubling it, until the PRACK
// or a final response; past 64·T1 it gives up and refuses the INVITE.
func (c *Call) retransmitProv(p *reliableProv, interval, elapsed time.Duration) {
	deadline := 64 * sip.T1
	wait := min(interval, deadline-elapsed)
	p.timer = c.after(wait, func() {
		if c.ended || c.prov != p || c.final != nil {
			return
		}
		if elapsed += wait; elapsed >= deadline {
			c.log.Info("reliable provisional never acknowledged", "rseq", p.rseq)
			c.prov, c.finalPending = nil, nil
			c.fail(504, "Reliable Provisional Not Acknowledged", EndError)
			return
		}
		c.invite.send(c.s, p.res)
		c.retransmitProv(p, 2*interval, elapsed)
	})
}

// provTimer is the pending retransmission of a reliable provisional.
func (c *Call) provTimer() *time.Timer {
	if c.prov == nil {
		return nil
	}
	return c.prov.timer
}

// onPrack takes the caller's PRACK: it must acknowledge the reliable
// provisional in flight, or it gets 481 (RFC 3262 §3).
func (c *Call) onPrack(in *inbound) {
	p := c.prov
	rseq, cseq, method, ok := parseRAck(in.req)
	if p == nil || !ok || rseq != p.rseq || cseq != c.invite.req.CSeq().SeqNo || method != sip.INVITE {
		in.respond(c.s, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	p.timer.Stop()
	c.prov = nil
	in.respond(c.s, 200, "OK", nil)
	if next := c.provNext; next != nil && c.final == nil {
		c.provNext = nil
		c.sendProvisional(next.code, next.phrase, next.body)
	}
	if send := c.finalPending; send != nil && (c.prov == nil || !c.prov.sdp) {
		c.finalPending = nil
		send()
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
