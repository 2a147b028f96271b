package b2bua

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// other returns the leg across the call from l.
func (c *Call) other(l *leg) *leg {
	if l == c.caller {
		return c.callee
	}
	return c.caller
}

// onRequest handles a request received inside one of the call's dialogs.
func (c *Call) onRequest(l *leg, in *inbound) {
	req := in.req
	if !l.d.peers.allows(req.Source()) {
		c.s.securityRefuse(RefusedDialogPeer, req, c.id)
		in.respond(c.s, 403, "Forbidden", nil)
		return
	}
	if !l.d.fromRemote(req) {
		// Call-ID and earshot's tag match, the peer's tag does not: not
		// this dialog (RFC 3261 §12.2.2).
		in.respond(c.s, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	if cs := req.CSeq(); cs != nil && req.Method != sip.ACK {
		if cs.SeqNo < l.d.remoteSeq && req.Method != sip.PRACK {
			in.respond(c.s, 500, "CSeq Out Of Order", nil)
			return
		}
		l.d.remoteSeq = cs.SeqNo
	}
	if l.sup != nil && !l.sup.promoted {
		c.onSupRequest(l, in)
		return
	}
	switch req.Method {
	case sip.BYE:
		in.respond(c.s, 200, "OK", nil)
		c.onBye(l)
	case sip.INVITE, sip.UPDATE:
		c.onOffer(l, in)
	case sip.INFO:
		// DTMF and other INFO packages stay on this leg.
		in.respond(c.s, 200, "OK", nil)
	case sip.PRACK:
		if l == c.caller {
			c.caller.uas.prack(in)
			return
		}
		in.respond(c.s, 481, "Call/Transaction Does Not Exist", nil)
	case sip.OPTIONS:
		in.respond(c.s, 200, "OK", nil)
	case sip.REFER:
		c.onRefer(l, in)
	default:
		in.respond(c.s, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
	}
}

func (c *Call) onBye(l *leg) {
	if c.ended {
		return
	}
	switch {
	case l == c.caller:
		if !c.caller.uas.answered() {
			c.fail(487, "Request Terminated", EndCallerHangup)
			return
		}
		c.end(EndCallerHangup)
	case l == c.callee:
		if c.transferorLeft(l) {
			return // blind transfer: the customer waits for the target
		}
		c.bye(c.caller)
		c.end(EndCalleeHangup)
	}
}

// onOffer handles a re-INVITE or UPDATE. Without SDP it is a session
// refresh answered here; with SDP the offer is forwarded to the other leg
// through the media session, and answered when that leg answers.
func (c *Call) onOffer(l *leg, in *inbound) {
	req := in.req
	o := c.other(l)
	if l == c.caller {
		c.refreshSession()
	} else if l == c.callee {
		c.scheduleCallee()
	}
	if o == nil || c.callee == nil {
		if req.Method == sip.UPDATE && len(req.Body()) == 0 {
			in.respond(c.s, 200, "OK", nil)
			return
		}
		in.respond(c.s, 491, "Request Pending", nil)
		return
	}
	if l.offer != nil || o.offer != nil {
		in.respond(c.s, 491, "Request Pending", nil)
		return
	}
	hdrs := []sip.Header{c.s.contact(l.d.transport)}
	if se, ok := sessionExpires(req); ok {
		// The side that sent the refresh stays the refresher.
		hdrs = append(hdrs, sip.NewHeader("Session-Expires", strconv.Itoa(se)+";refresher=uac"))
		if l == c.callee && c.calleeSess.interval > 0 {
			c.calleeSess.interval = time.Duration(max(se, minSE)) * time.Second
			c.scheduleCallee()
		}
	}
	if len(req.Body()) == 0 {
		if req.Method == sip.INVITE {
			c.reoffer(l, in, hdrs)
			return
		}
		in.respond(c.s, 200, "OK", nil, hdrs...)
		return
	}
	fwd, err := c.media.Offer(l.side, req.Body())
	if err != nil {
		code := 488
		if se, ok := err.(StatusError); ok {
			code = se.SIPStatus()
		}
		in.respond(c.s, code, reasonPhrase(code), nil)
		return
	}
	if req.Method == sip.INVITE {
		in.respond(c.s, 100, "Trying", nil)
	}
	l.offer = in
	out := o.d.newRequest(req.Method, c.s.contact(o.d.transport))
	out.SetBody(fwd)
	o.sdpSent = fwd
	out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	_, err = c.startTx(out,
		func(res *sip.Response) { c.onOfferResponse(l, o, out, res, hdrs) },
		func(error) {
			if l.offer == in {
				l.offer = nil
				in.respond(c.s, 408, "Request Timeout", nil)
			}
		})
	if err != nil {
		l.offer = nil
		in.respond(c.s, 500, "Server Internal Error", nil)
	}
}

// reoffer answers a re-INVITE without SDP (a refresh, or a peer asking for
// the session) with earshot's current SDP for that leg as the offer; the
// other leg is not involved. The answer comes in the ACK (onAck).
func (c *Call) reoffer(l *leg, in *inbound, hdrs []sip.Header) {
	offer, err := c.media.Reoffer(l.side)
	if err != nil {
		code := statusOf(err, 488)
		in.respond(c.s, code, reasonPhrase(code), nil)
		return
	}
	l.reoffered = in.req.CSeq().SeqNo
	in.respond(c.s, 200, "OK", offer, hdrs...)
}

func (c *Call) onOfferResponse(from, to *leg, out *sip.Request, res *sip.Response, hdrs []sip.Header) {
	in := from.offer
	if in == nil || res.IsProvisional() {
		return
	}
	from.offer = nil
	if out.Method == sip.INVITE && res.IsSuccess() {
		c.sendACK(to.d.newRequest(sip.ACK, c.s.contact(to.d.transport)))
	}
	if c.ended {
		in.respond(c.s, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	if !res.IsSuccess() {
		in.respond(c.s, res.StatusCode, res.Reason, nil)
		return
	}
	answer, err := c.media.Answer(to.side, res.Body())
	if err != nil {
		in.respond(c.s, 488, "Not Acceptable Here", nil)
		return
	}
	if to == c.callee {
		c.scheduleCallee() // a 2xx to an offer refreshes the session (RFC 4028 §10)
	}
	from.sdpSent = answer
	in.respond(c.s, 200, "OK", answer, hdrs...)
	c.holdMusic(to, holds(in.req.Body()))
}

// holdMusic plays music on hold to l while the other party holds it, if
// the tenant wants it, and stops it when the other party resumes.
func (c *Call) holdMusic(l *leg, held bool) {
	if !c.tenantPolicy().HoldMusic || held == l.onHold {
		return
	}
	l.onHold = held
	if !held {
		if err := c.media.StopPlay(l.side); err != nil {
			c.log.Warn("stop music on hold", "err", err)
		}
		return
	}
	p := Playback{Tenant: c.route.tenant.name}
	if g := c.route.group; g != nil {
		p.Group = g.Name
	}
	if err := c.media.Play(l.side, p); err != nil {
		c.log.Warn("music on hold", "err", err)
	}
}

// holds reports whether an SDP offer puts the other party on hold: its
// audio is sendonly or inactive (at session or media level), or its
// connection address is 0.0.0.0 (RFC 2543 style).
func holds(sdp []byte) bool {
	for _, line := range strings.Split(string(sdp), "\n") {
		switch strings.TrimSpace(line) {
		case "a=sendonly", "a=inactive", "c=IN IP4 0.0.0.0":
			return true
		}
	}
	return false
}
