package b2bua

import (
	"strconv"

	"github.com/emiago/sipgo/sip"
)

// A callee whose ACK was lost retransmits its 2xx until one arrives, for
// 64·T1, and then ends the dialog (RFC 3261 §13.3.1.4): on a lossy trunk
// one lost datagram would cost the call. The UAC core therefore ACKs
// every 2xx it receives (§13.2.2.4). The 2xx that come again go to the
// INVITE's hook (againHook, send.go); startTx posts them here, on the
// call's loop, after the first 2xx (so the first is always handled before
// its retransmissions).
//
// sipgo's INVITE client transaction ends at its 2xx
// (SetTransactionTimers): kept in RFC 6026's Accepted state for the
// linger, each held its INVITE, its responses, timers and the hook, most
// of what earshot held per call at thousands of calls a second. The hook
// is kept for the linger instead (keepAgain), with only the part of the
// INVITE it answers from, and a 2xx that comes again after the
// transaction reaches it from the stack's handler of stray responses
// (reackStray).

// againKeeper is what keepAgain keeps of an INVITE: its hook, and the
// part of the request a 2xx is answered from.
type againKeeper struct {
	hook   *againHook
	invite *sip.Request
}

// keepAgain keeps invite's hook for the linger from now; k is what an
// earlier call kept of the same INVITE, nil the first time. It returns
// what it kept.
func (s *Server) keepAgain(k *againKeeper, invite *sip.Request, h *againHook) *againKeeper {
	cid, cseq, from := invite.CallID(), invite.CSeq(), invite.From()
	if cid == nil || cseq == nil || from == nil {
		return k
	}
	if k == nil {
		k = &againKeeper{h, ackBasis(invite)}
	}
	tag, _ := from.Params.Get("tag")
	s.againHooks.put(againKey(cid.Value(), cseq.SeqNo, tag), k)
	return k
}

// againKey is the key of an INVITE in Server.againHooks, from what its 2xx
// repeats of it.
func againKey(callID string, seq uint32, fromTag string) string {
	return callID + "|" + strconv.FormatUint(uint64(seq), 10) + "|" + fromTag
}

// ackBasis is the part of an INVITE that forkDialog and ackAfterEnd read:
// its Request-URI, From, To, Call-ID, CSeq, transport and destination,
// without its body and the rest of its headers.
func ackBasis(invite *sip.Request) *sip.Request {
	r := sip.NewRequest(invite.Method, invite.Recipient)
	r.AppendHeader(invite.From())
	r.AppendHeader(invite.To())
	r.AppendHeader(invite.CallID())
	r.AppendHeader(invite.CSeq())
	r.SetTransport(invite.Transport())
	r.SetDestination(invite.Destination())
	return r
}

// reackStray hands a 2xx to an INVITE that came after the INVITE's client
// transaction ended to the INVITE's hook, within the linger; it reports
// whether there was one.
func (s *Server) reackStray(res *sip.Response) bool {
	cseq, cid, from := res.CSeq(), res.CallID(), res.From()
	if !res.IsSuccess() || cseq == nil || cseq.MethodName != sip.INVITE || cid == nil || from == nil {
		return false
	}
	tag, _ := from.Params.Get("tag")
	k, ok := s.againHooks.get([]byte(againKey(cid.Value(), cseq.SeqNo, tag)))
	if !ok {
		return false
	}
	k.hook.receive(s, k.invite, res)
	return true
}

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
