package b2bua

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Blind transfer (RFC 3515, RFC 5589): the agent's phone sends REFER
// naming another extension. earshot accepts it (202), calls the target on
// a media leg of its own while the customer stays on the call, and when
// the target answers swaps it in as the callee — the same replaceCallee
// an intercept uses — without a gap in the customer's stream. The
// transferor hears of the progress by NOTIFY (message/sipfrag) and may
// hang up at any time after the 202: its BYE no longer ends the call. If
// the target does not answer, a transferor still on the call keeps it;
// one who left takes the customer with them (there is no one else).

// transfer is a blind transfer in progress on a call.
type transfer struct {
	from  *leg // the transferor's dialog, for NOTIFY; nil once it hung up
	to    *leg // the target's leg, ringing
	user  *User
	media MediaLeg
}

// onRefer handles a REFER on leg l (the agent's). Only the callee may
// transfer, to a user of the tenant, one transfer at a time.
func (c *Call) onRefer(l *leg, in *inbound) {
	req := in.req
	switch {
	case l != c.callee || !c.caller.uas.answered():
		in.respond(c.s, 403, "Forbidden", nil)
		return
	case c.xfer != nil:
		in.respond(c.s, 491, "Request Pending", nil)
		return
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		in.respond(c.s, 400, "Bad Request (no Refer-To)", nil)
		return
	}
	var uri sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(h.Value(), &uri, &params); err != nil || uri.User == "" {
		in.respond(c.s, 400, "Bad Request (Refer-To)", nil)
		return
	}
	tenant := c.route.tenant.name
	u := c.s.findUser(tenant, uri.User)
	targets := c.s.userTargets(tenant, uri.User)
	switch {
	case u == nil:
		in.respond(c.s, 404, "Not Found", nil)
		return
	case len(targets) == 0:
		in.respond(c.s, 480, "Temporarily Unavailable", nil)
		return
	}
	ml, err := c.media.AddLeg(func(byte) {})
	if err == nil {
		var offer []byte
		if offer, err = ml.Offer(); err == nil {
			x := &transfer{from: l, user: u, media: ml}
			x.to = c.uacLeg(targets[0], ml.ID(), c.route.caller, offer)
			x.to.agent = u.Extension
			c.xfer = x
			err = x.to.uac.start(func(res *sip.Response) { c.onTransferResponse(x, res) },
				func(error) { c.onTransferDone(x) })
			if err != nil {
				c.xfer = nil
				c.s.forgetLeg(x.to)
			}
		}
		if err != nil {
			_ = ml.Close()
		}
	}
	if err != nil {
		c.log.Warn("transfer failed to start", "err", err)
		in.respond(c.s, 503, "Service Unavailable", nil)
		return
	}
	in.respond(c.s, 202, "Accepted", nil)
	c.notifyTransfer(c.xfer, "SIP/2.0 100 Trying", false)
	c.log.Info("transfer started", "to", u.Extension)
}

// uacLeg builds a leg earshot calls on side, sending offer as from: its
// dialog and its INVITE, filed in the dialog table, not yet sent.
func (c *Call) uacLeg(t target, side int, from Party, offer []byte) *leg {
	host := c.s.contact("udp").Address.Host
	l := &leg{call: c, side: side}
	l.d = dialog{
		callID:    uuid.NewString(),
		localTag:  sip.GenerateTagN(16),
		local:     sip.Uri{Scheme: "sip", User: from.Number, Host: host},
		localName: from.Name,
		remote:    t.uri,
		target:    t.uri,
		transport: t.transport,
		dest:      t.dest,
	}
	l.d.peers.add(t.dest)
	if l.d.transport == "" {
		l.d.transport = "UDP"
	}
	req := l.d.newRequest(sip.INVITE, c.s.contact(l.d.transport))
	req.SetBody(offer)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", c.s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Session-ID", c.snap.SessionID))
	l.uac = newUACInvite(&l.d, callIO{c}, req)
	c.s.mu.Lock()
	c.s.addLegLocked(l)
	c.s.mu.Unlock()
	return l
}

func (c *Call) onTransferResponse(x *transfer, res *sip.Response) {
	if c.ended || c.xfer != x {
		return
	}
	switch x.to.uac.response(res) {
	case uacRinging:
		c.notifyTransfer(x, "SIP/2.0 180 Ringing", false)
	case uacAccepted:
		_ = x.media.SetSignalSource(sourceIP(res.Source()))
		if err := x.media.TakeAnswer(res.Body()); err != nil {
			c.log.Warn("transfer target's answer rejected", "err", err)
			c.bye(x.to)
			c.failTransfer(x, "SIP/2.0 488 Not Acceptable Here")
			return
		}
		if err := x.media.Promote(); err != nil {
			c.log.Warn("transfer hand-over failed", "err", err)
			c.bye(x.to)
			c.failTransfer(x, "SIP/2.0 500 Server Internal Error")
			return
		}
		c.notifyTransfer(x, "SIP/2.0 200 OK", true)
		c.xfer = nil
		if x.from == nil {
			c.callee = nil // the transferor's dialog is gone already
		}
		c.replaceCallee(x.to, x.user)
		c.log.Info("transfer completed", "to", x.user.Extension)
	case uacRefused:
		c.failTransfer(x, "SIP/2.0 "+strconv.Itoa(res.StatusCode)+" "+res.Reason)
	}
}

func (c *Call) onTransferDone(x *transfer) {
	if !c.ended && c.xfer == x && x.to.uac.done() {
		c.failTransfer(x, "SIP/2.0 408 Request Timeout")
	}
}

// failTransfer ends a transfer that did not reach its target: the
// transferor hears why; a call whose transferor already left ends.
func (c *Call) failTransfer(x *transfer, frag string) {
	c.xfer = nil
	_ = x.media.Close()
	c.s.forgetLeg(x.to)
	c.notifyTransfer(x, frag, true)
	if x.from == nil {
		c.log.Info("transfer failed after the transferor left", "sipfrag", frag)
		c.hangup(EndNoAnswer)
	}
}

// notifyTransfer tells the transferor how its REFER goes (RFC 3515 §2.4.5).
func (c *Call) notifyTransfer(x *transfer, frag string, final bool) {
	if x.from == nil {
		return
	}
	req := x.from.d.newRequest(sip.NOTIFY, c.s.contact(x.from.d.transport))
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(strings.TrimSpace(frag) + "\r\n"))
	c.s.sendAndForget(req)
}

// transferorLeft handles the transferor's BYE while its transfer runs:
// the call goes on with the customer until the target answers or fails.
func (c *Call) transferorLeft(l *leg) bool {
	x := c.xfer
	if x == nil || x.from != l {
		return false
	}
	x.from = nil
	c.s.forgetLeg(l)
	if l.agent != "" {
		c.s.release(c, l.agent, ReleaseEnded)
	}
	return true
}
