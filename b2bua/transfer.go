package b2bua

import (
	"errors"
	"slices"
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
	from  *leg   // the transferor's dialog, for NOTIFY; nil once it hung up (or an API transfer)
	to    *leg   // the target's leg, ringing
	user  *User  // the target user; nil for an external number
	trunk *Trunk // the trunk an external target is called through
	media MediaLeg
	// offered is the agent the router held for a transfer to a group: its
	// offer ends when the transfer does.
	offered string
	// fromLeft: the transferor hung up after its REFER.
	fromLeft bool
	// queue: a transfer to a business number whose agents are all busy;
	// the customer waits in that group's queue (requeue).
	queue *numberRoute
	// number is what the transfer was asked for.
	number string
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
	if rep, ok := replacesOf(uri); ok {
		c.attendedTransfer(l, in, rep)
		return
	}
	if code, phrase := c.transferTo(uri.User, l); code != 0 {
		in.respond(c.s, code, phrase, nil)
		return
	}
	in.respond(c.s, 202, "Accepted", nil)
	c.notifyTransfer(c.xfer, "SIP/2.0 100 Trying", false)
	c.requeueIfWaiting()
}

// transferTo starts a blind transfer of the call's customer to number: a
// user of the tenant, a business number (the group's next free agent, as
// the router chooses), or an external number through the tenant's trunk.
// from is the transferor's leg (NOTIFYs go there), nil for a transfer
// through the API. A non-zero code is why it cannot start.
func (c *Call) transferTo(number string, from *leg) (int, string) {
	td := c.route.tenant
	x := &transfer{from: from, number: number}
	var t target
	switch nr, group := td.numbers[number]; {
	case td.users[number] != nil:
		targets := c.s.userTargets(td.name, number)
		if len(targets) == 0 {
			return 480, "Temporarily Unavailable"
		}
		x.user, t = td.users[number], targets[0]
	case group:
		d := c.s.router.Route(RouteRequest{CallID: "transfer:" + c.id, Tenant: td.name, Group: nr.group,
			Number: number, Label: nr.label, Priority: nr.priority, Caller: c.route.caller, Since: c.s.cfg.Now(),
			Tried:     func(string) bool { return false },
			Reachable: func(ext string) bool { return len(c.s.userTargets(td.name, ext)) > 0 }})
		c.s.router.Left("transfer:"+c.id, EndRejected) // nobody waits: the customer is on the call
		if len(d.Agents) == 0 {
			if !d.Wait {
				return 480, "No Agent Available"
			}
			// Every agent is busy and the group queues: the customer
			// waits in its queue (requeueIfWaiting, once the REFER is
			// answered).
			x.queue = &nr
			c.xfer = x
			return 0, ""
		}
		for _, a := range d.Agents[1:] {
			c.s.router.Free(td.name, a, ReleaseWithdrawn) // one target at a time
		}
		x.user, x.offered = td.users[d.Agents[0]], d.Agents[0]
		targets := c.s.userTargets(td.name, x.offered)
		if x.user == nil || len(targets) == 0 {
			c.s.router.Free(td.name, x.offered, ReleaseWithdrawn)
			return 480, "Temporarily Unavailable"
		}
		t = targets[0]
	case len(td.trunks) > 0 && businessDigits(number):
		tr := td.trunks[0]
		host, port := splitHostPort(tr.Outbound)
		t = target{uri: sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}, dest: tr.Outbound,
			transport: strings.ToUpper(tr.Transport)}
		x.trunk = tr
	default:
		return 404, "Not Found"
	}
	ml, err := c.media.AddLeg(func(byte) {})
	if err == nil {
		var offer []byte
		if offer, err = legOffer(ml, t.transport); err == nil {
			x.media = ml
			x.to = c.uacLeg(t, ml.ID(), c.route.caller, offer)
			if x.trunk != nil {
				x.to.d.peers.trunk = x.trunk
			}
			if x.user != nil {
				x.to.agent = x.user.Extension
			}
			c.xfer = x
			err = x.to.uac.start(func(res *sip.Response) { c.onTransferResponse(x, res) },
				func(error) { c.onTransferDone(x) })
			if err != nil {
				c.xfer = nil
				c.s.dialogs.drop(x.to)
			}
		}
		if err != nil {
			_ = ml.Close()
		}
	}
	if err != nil {
		if x.offered != "" {
			c.s.router.Free(td.name, x.offered, ReleaseWithdrawn)
		}
		c.log.Warn("transfer failed to start", "err", err)
		return 503, "Service Unavailable"
	}
	c.log.Info("transfer started", "to", number)
	return 0, ""
}

// businessDigits reports whether s is a dialable number: digits with an
// optional leading +.
func businessDigits(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
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
	setMaxForwards(req, hopsAfter(c.original))
	req.SetBody(offer)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", c.s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Session-ID", c.snap.Load().SessionID))
	l.uac = newUACInvite(&l.d, callIO{c}, req)
	c.s.dialogs.add(l)
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
		if x.fromLeft {
			c.callee = nil // the transferor's dialog is gone already
		}
		if x.offered != "" {
			// The router's offer becomes the call, held like any callee.
			c.s.router.Free(c.route.tenant.name, x.offered, ReleaseWithdrawn)
		}
		target := Party{Number: x.to.d.remote.User}
		if x.user != nil {
			target = Party{Number: x.user.Extension, Name: x.user.Name}
		}
		c.replaceCalleeWith(x.to, target, x.user != nil)
		c.transferred()
		c.log.Info("transfer completed", "to", target.Number)
	case uacRefused:
		if c.retryTransferWithAuth(x, res) {
			return
		}
		c.failTransfer(x, "SIP/2.0 "+strconv.Itoa(res.StatusCode)+" "+res.Reason)
	}
}

// retryTransferWithAuth answers a carrier's challenge to a transfer's
// INVITE through a trunk with the trunk's credentials, once, as for any
// call out through it.
func (c *Call) retryTransferWithAuth(x *transfer, res *sip.Response) bool {
	u := x.to.uac
	if (res.StatusCode != 401 && res.StatusCode != 407) || u.authTried || x.trunk == nil || x.trunk.Username == "" {
		return false
	}
	u.authTried = true
	edit, err := digestAnswer(x.to, res, x.trunk)
	if err != nil || !u.resend(u.invite.Body(), edit) {
		return false
	}
	err = u.start(func(res *sip.Response) { c.onTransferResponse(x, res) }, func(error) { c.onTransferDone(x) })
	return err == nil
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
	if x.to != nil {
		c.s.dialogs.drop(x.to)
	}
	if x.offered != "" {
		c.s.router.Free(c.route.tenant.name, x.offered, ReleaseNoAnswer)
	}
	c.notifyTransfer(x, frag, true)
	if x.fromLeft {
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
	x.from, x.fromLeft = nil, true
	c.s.dialogs.drop(l)
	if l.agent != "" {
		c.s.release(c, l.agent, ReleaseEnded)
	}
	return true
}

// Transfer moves the customer of an answered call of tenant to number (a
// user, a business number, an external number through the trunk), as the
// agent's REFER would, for actor (a supervisor, through the API). It
// returns once the target rings; the customer stays with the agent until
// the target answers, and if it does not, the call stays as it was.
func (s *Server) Transfer(tenant, actor, callID, number string) error {
	u := s.findUser(tenant, actor)
	if u == nil || (u.Role != RoleSupervisor && u.Role != RoleAdmin) {
		return ErrNotSupervisor
	}
	c := s.callOf(tenant, callID)
	if c == nil {
		return ErrCallNotFound
	}
	return c.do(func() error {
		switch {
		case c.ended:
			return ErrCallNotFound
		case !c.caller.uas.answered() || c.callee == nil:
			return ErrCallNotAnswered
		case c.xfer != nil:
			return ErrTransferPending
		}
		switch code, _ := c.transferTo(number, nil); code {
		case 0:
			c.log.Info("transfer requested", "by", actor, "to", number)
			c.requeueIfWaiting()
			return nil
		case 404:
			return ErrNoSuchTarget
		case 480:
			return ErrTargetUnavailable
		default:
			return errors.New("transfer failed to start")
		}
	})
}

// requeueIfWaiting completes a transfer to a group whose agents are all
// busy: the transferor hears it succeeded and is released, and the
// customer — still answered, on the same stream — waits in the group's
// queue with its music and announcements until an agent frees up, in line
// by when it first called. The next agent gets earshot's last offer on
// the agent's side again, and takes over that leg's media.
func (c *Call) requeueIfWaiting() {
	x := c.xfer
	if x == nil || x.queue == nil {
		return
	}
	c.xfer = nil
	offer, err := c.media.Reoffer(LegCallee)
	if err != nil {
		c.log.Warn("requeue after transfer", "err", err)
		c.notifyTransfer(x, "SIP/2.0 500 Server Internal Error", true)
		return
	}
	c.notifyTransfer(x, "SIP/2.0 200 OK", true)
	old := c.callee
	c.callee = nil
	if t := c.calleeSess.timer; t != nil {
		t.Stop()
	}
	c.calleeSess = calleeTimer{}
	c.ringing.offer = offer
	c.route.kind = toGroup
	c.waiting.queued = false // a customer that waited before waits again
	c.update(func(s *CallSnapshot) { s.Agents, s.Callee = nil, Party{} }, CallAgentChanged)
	c.transferred()
	c.log.Info("transfer to a busy group: the customer waits in its queue", "to", x.number)
	c.reroute(x.queue.group, x.number, x.queue.label, x.queue.priority)
	// The agent leaves only now that the queue plays: the customer's
	// stream goes from the agent's voice to the music without a gap.
	if old != nil {
		c.bye(old)
		c.s.dialogs.drop(old)
		if old.agent != "" {
			c.s.release(c, old.agent, ReleaseEnded)
		}
	}
}

// transferred applies the tenant's choice for supervisors once the
// customer changed hands: they stay (and hear the new agent), or leave.
func (c *Call) transferred() {
	if !c.tenantPolicy().TransferDetachesSupervisors {
		return
	}
	for _, sup := range slices.Clone(c.sups) {
		if sup.promoted {
			continue // a supervisor who intercepted is no longer supervising
		}
		c.detach(sup, SupEndTransferred)
	}
}
