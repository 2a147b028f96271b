package b2bua

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// uacIO is what a uacInvite needs from its owner: sending in the server's
// name, and transactions whose responses come back on the owner's loop.
type uacIO interface {
	// contact is earshot's Contact for a transport.
	contact(transport string) *sip.ContactHeader
	// sendACK sends an ACK for a 2xx (not a transaction).
	sendACK(req *sip.Request)
	// sendAndForget sends a request whose responses nobody waits for.
	sendAndForget(req *sip.Request)
	// startTx sends req in a client transaction; onRes and onDone run on
	// the owner's loop.
	startTx(req *sip.Request, onRes func(*sip.Response), onDone func(error)) (sip.ClientTransaction, error)
}

// uacResult tells the owner what a response means for it.
type uacResult uint8

// Results of uacInvite.response.
const (
	uacNothing  uacResult = iota // 100, a retransmission, a response after the owner gave up
	uacRinging                   // a provisional to act on (180, 183 with early media)
	uacAccepted                  // the first 2xx: the dialog is confirmed and ACKed
	uacRefused                   // a final non-2xx while the owner still waited for one
)

// uacInvite is an INVITE earshot sent, and its life until the dialog is
// set up or the attempt is over: the early and confirmed dialog, PRACK for
// reliable provisionals, the ACK of the 2xx (again for a retransmission),
// CANCEL, and a 2xx that arrives after CANCEL taken down with ACK and
// BYE. Its states are the table in uac_fsm.go. Owned by the call's loop.
type uacInvite struct {
	d      *dialog
	io     uacIO
	state  uacState
	invite *sip.Request // the INVITE as last sent
	// authTried and seRetried: the INVITE was resent once after a digest
	// challenge, or after 422 (RFC 4028 §6); neither is repeated.
	authTried, seRetried bool
	// relTag and relSeq: the To tag and RSeq of the last reliable
	// provisional PRACKed (RFC 3262 §4).
	relTag string
	relSeq uint32
}

func newUACInvite(d *dialog, io uacIO, invite *sip.Request) *uacInvite {
	return &uacInvite{d: d, io: io, invite: invite}
}

func (u *uacInvite) fire(ev uacEvent) bool {
	next, ok := uacTransitions[u.state][ev]
	if ok {
		u.state = next
	}
	return ok
}

// start sends the INVITE as built last; its responses go to onRes and the
// end of its transaction to onDone, on the owner's loop. The end of a
// transaction the INVITE was resent after (401, 422) is not reported: it
// says nothing about the attempt in progress.
func (u *uacInvite) start(onRes func(*sip.Response), onDone func(error)) error {
	sent := u.invite
	_, err := u.io.startTx(sent, onRes, func(err error) {
		if u.invite == sent {
			onDone(err)
		}
	})
	return err
}

// answered reports whether the INVITE was answered with a 2xx that the
// owner took.
func (u *uacInvite) answered() bool { return u.state == uacAnswered }

// response applies a response of the INVITE's transaction and tells the
// owner what it means.
func (u *uacInvite) response(res *sip.Response) uacResult {
	switch {
	case res.StatusCode == 100:
		return uacNothing
	case res.IsProvisional():
		was := u.state
		if !u.fire(uacProvisional) {
			return uacNothing
		}
		if was == uacHeld {
			// Given up before this first provisional: the CANCEL may go
			// now, and the owner has nothing to act on.
			u.sendCancel()
			return uacNothing
		}
		if to := res.To(); to != nil {
			if _, ok := to.Params.Get("tag"); ok {
				u.d.confirm(res)
			}
		}
		if hasTag(res, "Require", "100rel") {
			switch u.sequence(res) {
			case relNext:
				u.prack(res)
			case relRepeat:
				return uacNothing
			}
		}
		return uacRinging
	case res.IsSuccess():
		was := u.state
		if !u.fire(uacSuccess) {
			return uacNothing
		}
		if was != uacAnswered {
			u.d.confirm(res)
		}
		u.io.sendACK(u.d.newRequest(sip.ACK, u.io.contact(u.d.transport)))
		switch {
		case u.state == uacAbandoned:
			u.io.sendAndForget(u.d.newRequest(sip.BYE, u.io.contact(u.d.transport)))
			return uacNothing
		case was == uacAnswered:
			return uacNothing // a retransmission: our ACK was lost
		}
		return uacAccepted
	default:
		was := u.state
		if !u.fire(uacFailure) || was == uacCanceling || was == uacHeld {
			return uacNothing
		}
		return uacRefused
	}
}

// done applies the end of the transaction; it reports whether the owner
// was still waiting for a final response (then it is as a 408).
func (u *uacInvite) done() bool {
	was := u.state
	return u.fire(uacDone) && was != uacCanceling && was != uacHeld
}

// cancel gives the INVITE up: CANCEL while it waits for its final response,
// once a provisional came (RFC 3261 §9.1: a CANCEL before one could
// overtake the INVITE); a 2xx that still comes is taken down.
func (u *uacInvite) cancel() {
	if u.fire(uacCancel) && u.state == uacCanceling {
		u.sendCancel()
	}
}

// abandon gives the INVITE up for good because its owner ends: CANCEL at
// once, even before a provisional — once the call is over nobody would
// send it later, and a phone ringing for a call that is gone is worse
// than a CANCEL that may overtake its INVITE.
func (u *uacInvite) abandon() {
	if u.fire(uacAbandon) {
		u.sendCancel()
	}
}

func (u *uacInvite) sendCancel() {
	inv := u.invite
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(&maxFwd)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	u.io.sendAndForget(req)
}

// relOrder is where a reliable provisional stands in its dialog's sequence.
type relOrder uint8

const (
	relNext   relOrder = iota // the next one: PRACK it
	relRepeat                 // a retransmission, or out of order
	relNoSeq                  // no usable RSeq: it cannot be PRACKed
)

// sequence places a reliable provisional in its dialog's sequence (RFC
// 3262 §4): a retransmission of one PRACKed already (its PRACK's own
// transaction repeats the PRACK until answered) or one out of order gets
// no PRACK and is not processed further. Another To tag (another fork
// upstream) starts its own sequence.
func (u *uacInvite) sequence(res *sip.Response) relOrder {
	h := res.GetHeader("RSeq")
	if h == nil {
		return relNoSeq
	}
	n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
	if err != nil || n == 0 {
		return relNoSeq
	}
	if tag := tagOf(res.To()); tag != u.relTag || u.relSeq == 0 {
		u.relTag, u.relSeq = tag, uint32(n)
		return relNext
	}
	if uint32(n) != u.relSeq+1 {
		return relRepeat
	}
	u.relSeq = uint32(n)
	return relNext
}

// prack acknowledges a reliable provisional response (RFC 3262 §7.2).
func (u *uacInvite) prack(res *sip.Response) {
	rseq := res.GetHeader("RSeq")
	if rseq == nil {
		return
	}
	req := u.d.newRequest(sip.PRACK, u.io.contact(u.d.transport))
	req.AppendHeader(sip.NewHeader("RAck", fmt.Sprintf("%s %d INVITE", strings.TrimSpace(rseq.Value()), u.invite.CSeq().SeqNo)))
	u.io.sendAndForget(req)
}

// resendHeaders are the headers of an INVITE that its resending (after a
// challenge or a 422) keeps.
var resendHeaders = []string{"Content-Type", "Allow", "User-Agent", "Supported", "Session-Expires",
	"Min-SE", "P-Asserted-Identity", "Diversion", "Authorization", "Proxy-Authorization", "Session-ID"}

// resend builds the INVITE again after a rejection, with the next CSeq,
// the kept headers and body, and edit's changes; the owner sends it with
// start. It reports false if the INVITE cannot be resent now.
func (u *uacInvite) resend(body []byte, edit func(*sip.Request)) bool {
	if !u.fire(uacResend) {
		return false
	}
	req := u.d.newRequest(sip.INVITE, u.io.contact(u.d.transport))
	for _, name := range resendHeaders {
		for _, h := range u.invite.GetHeaders(name) {
			req.AppendHeader(sip.NewHeader(name, h.Value()))
		}
	}
	if mf := u.invite.MaxForwards(); mf != nil {
		setMaxForwards(req, uint32(*mf)) // the count the first carried (hops.go)
	}
	edit(req)
	req.SetBody(body)
	u.invite = req
	return true
}
