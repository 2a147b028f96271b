package b2bua

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Attended transfer (RFC 5589 §7, RFC 3891 Replaces). The agent, on a call
// with a customer (call 1, the agent its callee), places a consultation
// call to a colleague through earshot (call 2, the agent its caller), then
// sends REFER on call 1 whose Refer-To carries Replaces naming its own
// dialog of call 2. earshot completes it itself, as a B2BUA must (the
// customer never learns of the colleague's dialog):
//
//  1. call 2 hands the colleague's dialog over and ends: the agent gets
//     BYE on it, the colleague does not;
//  2. call 1 adopts that dialog on a new media leg of its own session and
//     re-INVITEs the colleague to it (the colleague's only re-INVITE);
//  3. on the 2xx the leg is promoted to the callee, as a blind transfer's
//     target is: the customer's stream goes on without a gap, the agent
//     gets NOTIFY 200 then BYE, supervisors now hear the colleague;
//  4. a customer the agent had put on hold gets earshot's re-INVITE back
//     to sendrecv, and its music on hold stops at once.
//
// The REFER must come from the agent of both calls: Replaces naming a
// dialog of anyone else is refused (403), so a leaked Call-ID and tags
// are not enough to steal a call.

// replaces is a Replaces header value (RFC 3891 §6.1).
type replaces struct {
	callID, toTag, fromTag string
}

// replacesOf returns the Replaces header embedded in a Refer-To URI, if
// any (its value is URL-escaped: RFC 3261 §19.1.1).
func replacesOf(uri sip.Uri) (replaces, bool) {
	var raw string
	for _, kv := range uri.Headers {
		if strings.EqualFold(kv.K, "Replaces") {
			raw = kv.V
		}
	}
	if raw == "" {
		return replaces{}, false
	}
	v, err := url.QueryUnescape(raw)
	if err != nil {
		return replaces{}, false
	}
	parts := strings.Split(v, ";")
	r := replaces{callID: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "to-tag":
			r.toTag = val
		case "from-tag":
			r.fromTag = val
		}
	}
	return r, r.callID != "" && r.toTag != "" && r.fromTag != ""
}

// replacedLeg finds the leg a Replaces names. Which tag is earshot's
// depends on the side the header was written from; both are tried.
func (s *Server) replacedLeg(r replaces) *leg {
	for _, tag := range []string{r.toTag, r.fromTag} {
		if l := s.dialogs.find(r.callID + "|" + tag); l != nil && l.d.remoteTag != "" &&
			(l.d.remoteTag == r.toTag || l.d.remoteTag == r.fromTag) {
			return l
		}
	}
	return nil
}

// adoption is what the consultation call hands over: the colleague's
// dialog, and who the colleague is.
type adoption struct {
	d     dialog
	party Party
	user  *User
}

// attendedTransfer answers the agent's REFER with Replaces on call c. l is
// the agent's leg, rep what the Refer-To names.
func (c *Call) attendedTransfer(l *leg, in *inbound, rep replaces) {
	other := c.s.replacedLeg(rep)
	agent := l.agent
	switch {
	case other == nil:
		in.respond(c.s, 481, "Call/Transaction Does Not Exist", nil)
		return
	case other.call == c || agent == "":
		in.respond(c.s, 403, "Forbidden", nil)
		return
	}
	ml, err := c.media.AddLeg(func(byte) {})
	if err != nil {
		c.log.Warn("attended transfer: no media", "err", err)
		in.respond(c.s, 503, "Service Unavailable", nil)
		return
	}
	x := &transfer{from: l, media: ml}
	c.xfer = x
	in.respond(c.s, 202, "Accepted", nil)
	c.notifyTransfer(x, "SIP/2.0 100 Trying", false)
	consult := other.call
	handed := func(a adoption, code int) {
		c.post(func() { c.adopt(x, a, code) })
	}
	if !consult.post(func() { consult.handOver(other, agent, c.route.tenant, handed) }) {
		c.failTransfer(x, "SIP/2.0 481 Call/Transaction Does Not Exist")
	}
}

// handOver runs on the consultation call: if l is agent's leg of it and
// the call is connected, it gives up its other party's dialog to the
// transfer and ends without a BYE to that party. done gets the dialog, or
// a SIP status why not.
func (c *Call) handOver(l *leg, agent string, tenant *tenantDir, done func(adoption, int)) {
	switch {
	case c.ended || l.call != c:
		done(adoption{}, 481)
		return
	case l != c.caller || c.route.callerExt != agent || c.route.tenant != tenant:
		// Only a consultation the transferor placed itself is taken.
		done(adoption{}, 403)
		return
	case !c.caller.uas.answered() || c.callee == nil || c.xfer != nil:
		done(adoption{}, 491)
		return
	}
	b := c.callee
	snap := c.Snapshot()
	a := adoption{d: b.d, party: snap.Callee}
	if b.agent != "" {
		a.user = c.route.tenant.users[b.agent]
	}
	c.callee = nil // the colleague's dialog lives on in the transfer
	c.log.Info("consultation handed over to an attended transfer", "callee", a.party.Number)
	c.hangup(EndTransferred)
	done(a, 0)
}

// adopt runs on the customer's call with what the consultation handed
// over: it files the colleague's dialog as a leg of this call and
// re-INVITEs it to the transfer's media leg.
func (c *Call) adopt(x *transfer, a adoption, code int) {
	if code != 0 {
		if c.xfer == x {
			c.failTransfer(x, "SIP/2.0 "+strconv.Itoa(code)+" "+reasonPhrase(code))
		}
		return
	}
	nl := &leg{call: c, side: x.media.ID(), d: a.d}
	if c.ended || c.xfer != x {
		c.bye(nl) // nothing left to connect the colleague to
		return
	}
	x.to, x.user = nl, a.user
	if a.user != nil {
		nl.agent = a.user.Extension
	}
	c.s.dialogs.add(nl)
	offer, err := legOffer(x.media, nl.d.transport)
	if err == nil {
		req := nl.d.newRequest(sip.INVITE, c.s.contact(nl.d.transport))
		req.SetBody(offer)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		nl.sdpSent = offer
		_, err = c.startTx(req, func(res *sip.Response) { c.onAdoptedResponse(x, a.party, res) },
			func(error) {
				if c.xfer == x {
					c.bye(nl)
					c.failTransfer(x, "SIP/2.0 408 Request Timeout")
				}
			})
	}
	if err != nil {
		c.log.Warn("attended transfer: re-INVITE failed", "err", err)
		c.bye(nl)
		c.failTransfer(x, "SIP/2.0 500 Server Internal Error")
	}
}

// onAdoptedResponse completes the attended transfer on the colleague's
// 2xx to earshot's re-INVITE.
func (c *Call) onAdoptedResponse(x *transfer, party Party, res *sip.Response) {
	if res.IsProvisional() || c.xfer != x {
		return
	}
	nl := x.to
	if res.IsSuccess() {
		c.sendACK(nl.d.newRequest(sip.ACK, c.s.contact(nl.d.transport)))
	}
	if c.ended {
		c.bye(nl)
		return
	}
	if !res.IsSuccess() {
		// The colleague's phone refused the new media: its call is gone
		// already, so it is released, and the customer stays with the agent.
		c.bye(nl)
		c.failTransfer(x, "SIP/2.0 "+strconv.Itoa(res.StatusCode)+" "+res.Reason)
		return
	}
	if err := x.media.TakeAnswer(res.Body()); err != nil {
		c.log.Warn("attended transfer: answer rejected", "err", err)
		c.bye(nl)
		c.failTransfer(x, "SIP/2.0 488 Not Acceptable Here")
		return
	}
	_ = x.media.SetSignalSource(sourceIP(res.Source()))
	if err := x.media.Promote(); err != nil {
		c.log.Warn("attended transfer: hand-over failed", "err", err)
		c.bye(nl)
		c.failTransfer(x, "SIP/2.0 500 Server Internal Error")
		return
	}
	c.notifyTransfer(x, "SIP/2.0 200 OK", true)
	c.xfer = nil
	if x.fromLeft {
		c.callee = nil
	}
	c.replaceCalleeWith(nl, party, x.user != nil)
	c.transferred()
	c.resumeCaller()
	c.log.Info("attended transfer completed", "to", party.Number)
}

// resumeCaller takes the customer off a hold the transferor had put it
// on: the music stops now, and earshot re-INVITEs the customer's phone to
// send again.
func (c *Call) resumeCaller() {
	l := c.caller
	if !holds(l.sdpSent) {
		return
	}
	if l.onHold {
		l.onHold = false
		if err := c.media.StopPlay(l.side); err != nil {
			c.log.Warn("stop music on hold", "err", err)
		}
	}
	offer, err := c.media.Resume(l.side)
	if err != nil {
		c.log.Warn("resume after transfer", "err", err)
		return
	}
	req := l.d.newRequest(sip.INVITE, c.s.contact(l.d.transport))
	req.SetBody(offer)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	l.sdpSent = offer
	_, err = c.startTx(req, func(res *sip.Response) {
		if res.IsProvisional() {
			return
		}
		if res.IsSuccess() {
			c.sendACK(l.d.newRequest(sip.ACK, c.s.contact(l.d.transport)))
			if _, err := c.media.Answer(l.side, res.Body()); err != nil {
				c.log.Warn("customer's answer to the resume", "err", err)
			}
			return
		}
		c.log.Warn("customer refused the resume", "status", res.StatusCode)
	}, func(error) {})
	if err != nil {
		c.log.Warn("resume after transfer", "err", err)
	}
}
