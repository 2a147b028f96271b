package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// fakeUACIO records what a uacInvite sends; transactions are not run.
type fakeUACIO struct {
	acks   int
	sent   []*sip.Request // CANCEL, BYE, PRACK
	txs    []*sip.Request
	onDone []func(error)
}

func (f *fakeUACIO) contact(string) *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "earshot", Host: "192.0.2.1"}}
}
func (f *fakeUACIO) sendACK(*sip.Request)           { f.acks++ }
func (f *fakeUACIO) sendAndForget(req *sip.Request) { f.sent = append(f.sent, req) }
func (f *fakeUACIO) startTx(req *sip.Request, _ func(*sip.Response), onDone func(error)) (sip.ClientTransaction, error) {
	// As the SIP stack does when it sends: the request gets its Via.
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	req.PrependHeader(via)
	f.txs = append(f.txs, req)
	f.onDone = append(f.onDone, onDone)
	return nil, nil
}

func (f *fakeUACIO) methods() []sip.RequestMethod {
	var out []sip.RequestMethod
	for _, r := range f.sent {
		out = append(out, r.Method)
	}
	return out
}

func testUAC(t *testing.T) (*uacInvite, *fakeUACIO) {
	t.Helper()
	io := &fakeUACIO{}
	d := &dialog{callID: "c1", localTag: "l1", transport: "UDP",
		local:  sip.Uri{Scheme: "sip", User: "5551234", Host: "192.0.2.1"},
		remote: sip.Uri{Scheme: "sip", User: "1001", Host: "192.0.2.1"},
		target: sip.Uri{Scheme: "sip", User: "1001", Host: "192.0.2.9", Port: 5060}}
	inv := d.newRequest(sip.INVITE, io.contact("udp"))
	inv.AppendHeader(sip.NewHeader("Session-Expires", "1800"))
	inv.AppendHeader(sip.NewHeader("X-Not-Kept", "1"))
	inv.SetBody([]byte("v=0"))
	u := newUACInvite(d, io, inv)
	if err := u.start(func(*sip.Response) {}, func(error) {}); err != nil {
		t.Fatal(err)
	}
	return u, io
}

func reply(u *uacInvite, code int, tag string, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(u.invite, code, "", nil)
	if tag != "" {
		res.To().Params.Add("tag", tag)
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return res
}

func TestUACAnswered(t *testing.T) {
	u, io := testUAC(t)
	if r := u.response(reply(u, 100, "")); r != uacNothing || u.state != uacCalling {
		t.Fatalf("100: %v, state %v", r, u.state)
	}
	if r := u.response(reply(u, 180, "t1", sip.NewHeader("Require", "100rel"), sip.NewHeader("RSeq", "7"))); r != uacRinging || u.state != uacEarly {
		t.Fatalf("180: %v, state %v", r, u.state)
	}
	if u.d.remoteTag != "t1" || len(io.sent) != 1 || io.sent[0].Method != sip.PRACK ||
		io.sent[0].GetHeader("RAck").Value() != "7 1 INVITE" {
		t.Fatalf("early dialog tag %q, sent %v", u.d.remoteTag, io.methods())
	}
	// RFC 3262 §4: a retransmission (RSeq 7 again) and one out of order
	// (9) get no PRACK and mean nothing to the owner; the next (8) does.
	for _, rseq := range []string{"7", "9"} {
		if r := u.response(reply(u, 180, "t1", sip.NewHeader("Require", "100rel"), sip.NewHeader("RSeq", rseq))); r != uacNothing || len(io.sent) != 1 {
			t.Fatalf("180 with RSeq %s: %v, sent %v", rseq, r, io.methods())
		}
	}
	if r := u.response(reply(u, 183, "t1", sip.NewHeader("Require", "100rel"), sip.NewHeader("RSeq", "8"))); r != uacRinging ||
		len(io.sent) != 2 || io.sent[1].GetHeader("RAck").Value() != "8 1 INVITE" {
		t.Fatalf("183 with RSeq 8: %v, sent %v", r, io.methods())
	}
	// Another fork upstream (To tag t2) has its own sequence.
	if r := u.response(reply(u, 180, "t2", sip.NewHeader("Require", "100rel"), sip.NewHeader("RSeq", "3"))); r != uacRinging || len(io.sent) != 3 {
		t.Fatalf("180 from another fork: %v, sent %v", r, io.methods())
	}
	u.d.confirm(reply(u, 180, "t1")) // back to the first fork's early dialog for what follows
	io.sent = io.sent[:1]
	if r := u.response(reply(u, 200, "t1")); r != uacAccepted || !u.answered() || io.acks != 1 {
		t.Fatalf("200: %v, state %v, %d ACKs", r, u.state, io.acks)
	}
	// Our ACK was lost: the 2xx comes again and is ACKed again.
	if r := u.response(reply(u, 200, "t1")); r != uacNothing || io.acks != 2 {
		t.Fatalf("retransmitted 200: %v, %d ACKs", r, io.acks)
	}
	// Late news is ignored.
	u.cancel()
	if r := u.response(reply(u, 180, "t1")); r != uacNothing || len(io.sent) != 1 || u.done() {
		t.Fatalf("after the answer: %v, sent %v", r, io.methods())
	}
}

func TestUACCanceled(t *testing.T) {
	u, io := testUAC(t)
	u.response(reply(u, 180, "t1"))
	u.cancel()
	u.cancel() // once
	if u.state != uacCanceling || len(io.sent) != 1 || io.sent[0].Method != sip.CANCEL ||
		io.sent[0].CSeq().SeqNo != u.invite.CSeq().SeqNo || io.sent[0].Via().Params.String() != u.invite.Via().Params.String() {
		t.Fatalf("state %v, sent %v", u.state, io.methods())
	}
	// The 487 answers the CANCELed INVITE: nothing for the owner.
	if r := u.response(reply(u, 487, "t1")); r != uacNothing || u.state != uacRejected {
		t.Fatalf("487: %v, state %v", r, u.state)
	}
	if u.done() {
		t.Fatal("the transaction's end after the 487 reported as a failure")
	}
}

func TestUACAnsweredAfterCancel(t *testing.T) {
	// Given up before any provisional: no CANCEL may go yet (RFC 3261
	// §9.1); the 2xx that comes instead is ACKed and taken down with BYE.
	u, io := testUAC(t)
	u.cancel()
	if u.state != uacHeld || len(io.sent) != 0 {
		t.Fatalf("state %v, sent %v", u.state, io.methods())
	}
	if r := u.response(reply(u, 200, "t2")); r != uacNothing || u.state != uacAbandoned {
		t.Fatalf("200 after giving up: %v, state %v", r, u.state)
	}
	if io.acks != 1 || len(io.sent) != 1 || io.sent[0].Method != sip.BYE || u.d.remoteTag != "t2" {
		t.Fatalf("%d ACKs, sent %v, tag %q", io.acks, io.methods(), u.d.remoteTag)
	}

	// Given up, then the first provisional: now the CANCEL goes; the
	// provisional is nothing for the owner; a 2xx racing the CANCEL is
	// taken down.
	u, io = testUAC(t)
	u.cancel()
	if r := u.response(reply(u, 180, "t3")); r != uacNothing || u.state != uacCanceling ||
		len(io.sent) != 1 || io.sent[0].Method != sip.CANCEL {
		t.Fatalf("180 after giving up: %v, state %v, sent %v", r, u.state, io.methods())
	}
	if r := u.response(reply(u, 200, "t3")); r != uacNothing || u.state != uacAbandoned ||
		io.acks != 1 || len(io.sent) != 2 || io.sent[1].Method != sip.BYE {
		t.Fatalf("200 after CANCEL: %v, state %v, %d ACKs, sent %v", r, u.state, io.acks, io.methods())
	}

	// Given up before any provisional, then refused: nothing for the owner.
	u, _ = testUAC(t)
	u.cancel()
	if r := u.response(reply(u, 486, "t4")); r != uacNothing || u.state != uacRejected || u.done() {
		t.Fatalf("486 after giving up: %v, state %v", r, u.state)
	}
}

func TestUACRejectedAndResent(t *testing.T) {
	u, io := testUAC(t)
	first := u.invite
	if r := u.response(reply(u, 422, "t3", sip.NewHeader("Min-SE", "3600"))); r != uacRefused || u.state != uacRejected {
		t.Fatalf("422: %v, state %v", r, u.state)
	}
	if !u.resend([]byte("v=0 again"), func(req *sip.Request) { req.AppendHeader(sip.NewHeader("Min-SE", "3600")) }) {
		t.Fatal("resend refused")
	}
	if u.resend(nil, func(*sip.Request) {}) {
		t.Fatal("resent twice without a rejection between")
	}
	inv := u.invite
	if inv.CSeq().SeqNo != first.CSeq().SeqNo+1 || inv.GetHeader("Session-Expires") == nil ||
		inv.GetHeader("X-Not-Kept") != nil || inv.GetHeader("Min-SE") == nil || string(inv.Body()) != "v=0 again" {
		t.Fatalf("resent INVITE:\n%s", inv.String())
	}
	if err := u.start(func(*sip.Response) {}, func(error) { t.Error("the first transaction's end was reported") }); err != nil {
		t.Fatal(err)
	}
	// The first transaction ends after its final response: not reported.
	io.onDone[0](nil)
	if u.state != uacCalling {
		t.Fatalf("state %v after the old transaction ended", u.state)
	}
	// The second dies without an answer: reported, as a failure.
	if !u.done() || u.state != uacFailed {
		t.Fatalf("state %v", u.state)
	}
}

func TestUACTableIsClosed(t *testing.T) {
	for s, row := range uacTransitions {
		for ev, next := range row {
			if next >= numUACStates {
				t.Errorf("%v --%d--> %d outside the table", uacState(s), ev, next)
			}
		}
	}
	for _, s := range []uacState{uacAbandoned, uacFailed} {
		if len(uacTransitions[s]) != 0 {
			t.Errorf("terminal state %v takes events", s)
		}
	}
}

// TestUACEveryTransition walks each row of uacTransitions through the
// methods the call uses: from a state reached on the wire, one event,
// the state it must lead to.
func TestUACEveryTransition(t *testing.T) {
	prov := func(u *uacInvite) { u.response(reply(u, 180, "t")) }
	ok := func(u *uacInvite) { u.response(reply(u, 200, "t")) }
	fail := func(u *uacInvite) { u.response(reply(u, 486, "t")) }
	cancel := func(u *uacInvite) { u.cancel() }
	abandon := func(u *uacInvite) { u.abandon() }
	done := func(u *uacInvite) { u.done() }
	resend := func(u *uacInvite) { u.resend(nil, func(*sip.Request) {}) }
	for _, tc := range []struct {
		name  string
		setup []func(*uacInvite)
		event func(*uacInvite)
		want  uacState
	}{
		{"calling provisional", nil, prov, uacEarly},
		{"calling success", nil, ok, uacAnswered},
		{"calling failure", nil, fail, uacRejected},
		{"calling cancel", nil, cancel, uacHeld},
		{"calling abandon", nil, abandon, uacCanceling},
		{"calling done", nil, done, uacFailed},
		{"held provisional", []func(*uacInvite){cancel}, prov, uacCanceling},
		{"held success", []func(*uacInvite){cancel}, ok, uacAbandoned},
		{"held failure", []func(*uacInvite){cancel}, fail, uacRejected},
		{"held abandon", []func(*uacInvite){cancel}, abandon, uacCanceling},
		{"held done", []func(*uacInvite){cancel}, done, uacFailed},
		{"early provisional", []func(*uacInvite){prov}, prov, uacEarly},
		{"early success", []func(*uacInvite){prov}, ok, uacAnswered},
		{"early failure", []func(*uacInvite){prov}, fail, uacRejected},
		{"early cancel", []func(*uacInvite){prov}, cancel, uacCanceling},
		{"early abandon", []func(*uacInvite){prov}, abandon, uacCanceling},
		{"early done", []func(*uacInvite){prov}, done, uacFailed},
		{"answered success", []func(*uacInvite){ok}, ok, uacAnswered},
		{"answered cancel ignored", []func(*uacInvite){ok}, cancel, uacAnswered},
		{"canceling success", []func(*uacInvite){prov, cancel}, ok, uacAbandoned},
		{"canceling failure", []func(*uacInvite){prov, cancel}, fail, uacRejected},
		{"canceling done", []func(*uacInvite){prov, cancel}, done, uacFailed},
		{"rejected resend", []func(*uacInvite){fail}, resend, uacCalling},
		{"rejected provisional ignored", []func(*uacInvite){fail}, prov, uacRejected},
		{"abandoned success ignored", []func(*uacInvite){cancel, ok}, ok, uacAbandoned},
		{"failed resend ignored", []func(*uacInvite){done}, resend, uacFailed},
	} {
		u, _ := testUAC(t)
		for _, step := range tc.setup {
			step(u)
		}
		tc.event(u)
		if u.state != tc.want {
			t.Errorf("%s: state %v, want %v", tc.name, u.state, tc.want)
		}
	}
}
