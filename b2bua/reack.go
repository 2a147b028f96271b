package b2bua

import (
	"bytes"
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

// keepAgain keeps invite's hook for the linger from now. key is its key
// in againHooks if an earlier call worked it out, "" the first time; it
// returns the key.
func (s *Server) keepAgain(key string, invite *sip.Request, h *againHook) string {
	if key == "" {
		cid, cseq, from := invite.CallID(), invite.CSeq(), invite.From()
		if cid == nil || cseq == nil || from == nil {
			return ""
		}
		tag, _ := from.Params.Get("tag")
		key = againKey(cid.Value(), cseq.SeqNo, tag)
	}
	s.againHooks.put(key, h)
	return key
}

// againKey is the key of an INVITE in Server.againHooks, from what its 2xx
// repeats of it.
func againKey(callID string, seq uint32, fromTag string) string {
	return callID + "|" + strconv.FormatUint(uint64(seq), 10) + "|" + fromTag
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
	h, ok := s.againHooks.get([]byte(againKey(cid.Value(), cseq.SeqNo, tag)))
	if !ok {
		return false
	}
	h.receive(s, res)
	return true
}

// sentACK is an ACK a call sent, kept past the call as its bytes (a
// parsed request is several times larger, and all pointers for the
// collector to follow): a 2xx that comes again gets it parsed back and
// sent again unchanged.
type sentACK struct {
	callID, toTag   string
	seq             uint32
	wire            []byte
	transport, dest string
}

// keepACKs turns the ACKs of an ended call into sentACKs.
func keepACKs(l *ackLog) []sentACK {
	var out []sentACK
	for _, r := range l.sent {
		if r == nil || r.CallID() == nil || r.CSeq() == nil {
			continue
		}
		// One buffer the size of a usual ACK: String's builder grew
		// several times and was copied again.
		wire := bytes.NewBuffer(make([]byte, 0, 512))
		r.StringWrite(wire)
		out = append(out, sentACK{callID: r.CallID().Value(), toTag: tagOf(r.To()), seq: r.CSeq().SeqNo,
			wire: wire.Bytes(), transport: r.Transport(), dest: r.Destination()})
	}
	return out
}

// request parses the ACK back; nil if it does not parse (it did when it
// was sent).
func (a *sentACK) request() *sip.Request {
	m, err := sip.ParseMessage(a.wire)
	req, ok := m.(*sip.Request)
	if err != nil || !ok {
		return nil
	}
	req.SetTransport(a.transport)
	req.SetDestination(a.dest)
	return req
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
	base, _ := forkBase(invite)
	d := forkDialog(base, res)
	c.sendACK(d.newRequest(sip.ACK, c.s.contact(d.transport)))
	if other {
		c.log.Info("2xx from another fork released", "status", res.StatusCode)
		c.s.sendAndForget(d.newRequest(sip.BYE, c.s.contact(d.transport)))
	}
}

// ackAfterEnd answers a 2xx to h's INVITE that came after its call
// ended: with the ACK the call or the hook sent for it, or else with an
// ACK and a BYE in its dialog. Caller holds h.mu.
func (s *Server) ackAfterEnd(h *againHook, res *sip.Response) {
	if h.base == nil {
		return
	}
	cid, seq, tag := h.base.callID, h.base.localSeq, tagOf(res.To())
	for i := range h.acked {
		if a := &h.acked[i]; a.callID == cid && a.seq == seq && a.toTag == tag {
			if ack := a.request(); ack != nil {
				s.sendACK(ack)
			}
			return
		}
	}
	if ack, _ := h.mine.find(cid, seq, tag); ack != nil {
		s.sendACK(ack)
		return
	}
	d := forkDialog(*h.base, res)
	ack := d.newRequest(sip.ACK, s.contact(d.transport))
	s.sendACK(ack)
	h.mine.add(ack)
	s.log.Info("2xx after the call ended released", "status", res.StatusCode, "sip_call_id", cid)
	s.sendAndForget(d.newRequest(sip.BYE, s.contact(d.transport)))
}

// forkBase is the dialog an INVITE starts (RFC 3261 §12.1.2) before a 2xx
// completes it: the INVITE's own From, To, Call-ID, CSeq, target and
// destination. ok is false when the INVITE lacks one of those headers.
func forkBase(invite *sip.Request) (d dialog, ok bool) {
	from, to, cid, cseq := invite.From(), invite.To(), invite.CallID(), invite.CSeq()
	if from == nil || to == nil || cid == nil || cseq == nil {
		return d, false
	}
	d = dialog{
		callID:    cid.Value(),
		local:     *from.Address.Clone(),
		localName: from.DisplayName,
		remote:    *to.Address.Clone(),
		remoteNm:  to.DisplayName,
		localSeq:  cseq.SeqNo,
		target:    *invite.Recipient.Clone(),
		transport: invite.Transport(),
		dest:      invite.Destination(),
	}
	d.localTag, _ = from.Params.Get("tag")
	return d, true
}

// forkDialog is the dialog a 2xx sets up from base (forkBase). base is
// copied, not changed: confirm gives the copy new route and peer slices.
func forkDialog(base dialog, res *sip.Response) dialog {
	d := base
	d.confirm(res)
	return d
}
