package b2bua

import "github.com/emiago/sipgo/sip"

// A callee whose ACK was lost retransmits its 2xx until one arrives, for
// 64·T1, and then ends the dialog (RFC 3261 §13.3.1.4): on a lossy trunk
// one lost datagram would cost the call. The UAC core therefore ACKs
// every 2xx it receives (§13.2.2.4). sipgo's INVITE client transaction
// absorbs the retransmissions (RFC 6026's Accepted state) and hands them
// only to a hook; startTx posts them here, on the call's loop, after the
// first 2xx (so the first is always handled before its retransmissions).

// ackLog keeps the last ACKs a call sent for 2xx responses, so that a
// retransmitted 2xx gets the very same ACK. A 2xx is retransmitted for at
// most 64·T1 and a call has few INVITE transactions in that time; the
// oldest entry is overwritten. Owned by the call's loop.
type ackLog struct {
	sent [4]*sip.Request
	next uint8
}

func (a *ackLog) add(ack *sip.Request) {
	a.sent[a.next] = ack
	a.next = (a.next + 1) % uint8(len(a.sent))
}

// find returns the ACK sent in the dialog callID/toTag for the INVITE
// numbered seq; other reports an ACK for that INVITE in another dialog
// (another fork's 2xx was accepted).
func (a *ackLog) find(callID string, seq uint32, toTag string) (ack *sip.Request, other bool) {
	for _, r := range a.sent {
		if r == nil || r.CallID() == nil || r.CallID().Value() != callID || r.CSeq() == nil || r.CSeq().SeqNo != seq {
			continue
		}
		if tagOf(r.To()) == toTag {
			return r, false
		}
		other = true
	}
	return nil, other
}

func tagOf(to *sip.ToHeader) string {
	if to == nil {
		return ""
	}
	tag, _ := to.Params.Get("tag")
	return tag
}

// sendACK sends the ACK for a 2xx and keeps it for the 2xx's
// retransmissions.
func (c *Call) sendACK(ack *sip.Request) {
	c.s.sendACK(ack)
	c.acks.add(ack)
}

// reACK answers a 2xx that came again to invite, after the first 2xx was
// handled: the ACK sent for it once more; a 2xx from another fork (its
// own To tag) gets its own ACK, then a BYE, since the call goes on with
// the dialog it accepted first (§13.2.2.4). A 2xx nobody ACKed yet (the
// transaction's owner had given it up) is ACKed in its dialog.
func (c *Call) reACK(invite *sip.Request, res *sip.Response) {
	cseq, cid := invite.CSeq(), invite.CallID()
	if cseq == nil || cid == nil || invite.From() == nil || invite.To() == nil {
		return
	}
	ack, other := c.acks.find(cid.Value(), cseq.SeqNo, tagOf(res.To()))
	if ack != nil {
		c.s.sendACK(ack)
		return
	}
	d := forkDialog(invite, res)
	c.sendACK(d.newRequest(sip.ACK, c.s.contact(d.transport)))
	if other {
		c.log.Info("2xx from another fork released", "status", res.StatusCode)
		c.s.sendAndForget(d.newRequest(sip.BYE, c.s.contact(d.transport)))
	}
}

// ackAfterEnd answers a 2xx to invite that came after its call ended: with
// the ACK the call or this drain sent for it, or else with an ACK and a
// BYE in its dialog.
func (s *Server) ackAfterEnd(invite *sip.Request, res *sip.Response, acked, mine *ackLog) {
	cseq, cid := invite.CSeq(), invite.CallID()
	if cseq == nil || cid == nil || invite.From() == nil || invite.To() == nil {
		return
	}
	tag := tagOf(res.To())
	ack, _ := acked.find(cid.Value(), cseq.SeqNo, tag)
	if ack == nil {
		ack, _ = mine.find(cid.Value(), cseq.SeqNo, tag)
	}
	if ack != nil {
		s.sendACK(ack)
		return
	}
	d := forkDialog(invite, res)
	ack = d.newRequest(sip.ACK, s.contact(d.transport))
	s.sendACK(ack)
	mine.add(ack)
	s.log.Info("2xx after the call ended released", "status", res.StatusCode, "sip_call_id", cid.Value())
	s.sendAndForget(d.newRequest(sip.BYE, s.contact(d.transport)))
}

// forkDialog is the dialog a 2xx to invite sets up (RFC 3261 §12.1.2): the
// INVITE's own From, To, Call-ID and destination, completed from the 2xx.
func forkDialog(invite *sip.Request, res *sip.Response) dialog {
	from, to := invite.From(), invite.To()
	d := dialog{
		callID:    invite.CallID().Value(),
		local:     *from.Address.Clone(),
		localName: from.DisplayName,
		remote:    *to.Address.Clone(),
		remoteNm:  to.DisplayName,
		localSeq:  invite.CSeq().SeqNo,
		target:    *invite.Recipient.Clone(),
		transport: invite.Transport(),
		dest:      invite.Destination(),
	}
	d.localTag, _ = from.Params.Get("tag")
	d.confirm(res)
	return d
}
