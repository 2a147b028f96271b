package b2bua

import (
	"bytes"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestRetransmitted2xxAckedAgain: a phone whose ACK was lost retransmits
// its 200 (RFC 3261 §13.3.1.4) and, after 64·T1 without an ACK, ends the
// call. earshot ACKs every retransmission of a 2xx it has ACKed (§13.2.2.4),
// the very same ACK; a 2xx from another fork of its INVITE (another To
// tag) is ACKed and then released with a BYE, and the answered call stays
// as it was.
func TestRetransmitted2xxAckedAgain(t *testing.T) {
	s, h := agentHarness(t)
	const n = 7
	h.readDeadline(5 * time.Second)

	// The carrier calls; the agent's phone answers.
	ok, earshot, first := h.answerAcked(n)

	// The phone did not get the ACK: its 200 comes again, twice.
	for i := range 2 {
		h.out = slices.Clone(ok)
		h.send(h.agent, earshot)
		if again := h.recvACK(); !bytes.Equal(again, first) {
			t.Fatalf("ACK for retransmission %d:\n%s\nwant the first ACK again:\n%s", i+1, again, first)
		}
	}

	// A 2xx from another fork of the INVITE: ACKed in its own dialog and
	// released.
	fork := bytes.Replace(ok, []byte(";tag=a"+strconv.Itoa(n)), []byte(";tag=fork"), 1)
	h.out = fork
	h.send(h.agent, earshot)
	ack := h.recvACK()
	if to := header(ack, "To"); !bytes.HasSuffix(to, []byte(";tag=fork")) {
		t.Fatalf("ACK of the other fork's 2xx has To %q:\n%s", to, ack)
	}
	if cseq := header(ack, "CSeq"); string(cseq) != "1 ACK" {
		t.Fatalf("ACK of the other fork's 2xx has CSeq %q", cseq)
	}
	bye, from := h.recv(h.agent, "BYE ")
	if to := header(bye, "To"); !bytes.HasSuffix(to, []byte(";tag=fork")) {
		t.Fatalf("BYE to the other fork has To %q:\n%s", to, bye)
	}
	h.out = h.response(h.out[:0], bye, n, false)
	h.send(h.agent, from)

	if cs := s.Calls(); len(cs) != 1 || cs[0].State != StateAnswered {
		t.Fatalf("calls after the other fork's 2xx: %+v", cs)
	}
	// The answered call is untouched: the carrier's BYE reaches the agent
	// in the first dialog.
	h.out = h.inDialog(h.out[:0], "BYE", n, 2)
	h.send(h.caller, h.srv)
	bye, from = h.recv(h.agent, "BYE ")
	if to := header(bye, "To"); !bytes.HasSuffix(to, []byte(";tag=a"+strconv.Itoa(n))) {
		t.Fatalf("BYE of the call has To %q:\n%s", to, bye)
	}
	h.out = h.response(h.out[:0], bye, n, false)
	h.send(h.agent, from)
	h.recvStatus(h.caller, "BYE")
}

// agentHarness starts a Server on loopback (flowTenants) with agent 1001
// registered at the harness's agent phone.
func agentHarness(t *testing.T) (*Server, *callHarness) {
	t.Helper()
	return agentHarnessWith(t, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy})
}

// agentHarnessWith is agentHarness on a server of cfg, whose tenants
// must hold agent 1001 as flowTenants does.
func agentHarnessWith(t *testing.T, cfg Config) (*Server, *callHarness) {
	t.Helper()
	s := newTestServer(t, cfg, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newCallHarness(t, netip.MustParseAddrPort(addrs[0]))
	h.state = func() any { return s.Calls() }
	reg := sipRequest(t, "REGISTER", "sip:"+addrs[0],
		"Contact: <sip:1001@"+h.agentAddr.String()+">", "From: <sip:1001@demo>;tag=r", "To: <sip:1001@demo>")
	reg.SetSource(h.agentAddr.String())
	if _, rerr := s.reg.update("demo", "1001", reg); rerr != nil {
		t.Fatalf("register: %+v", rerr)
	}
	return s, h
}

// answerAcked is answer keeping what the ACK tests need: the agent
// phone's 200 (with the address earshot's INVITE came from) and the ACK
// earshot sent for it, read before the carrier ACKs earshot's 200.
func (h *callHarness) answerAcked(n int) (ok []byte, earshot netip.AddrPort, ack []byte) {
	h.invite(n)
	h.send(h.caller, h.srv)
	invite, earshot := h.recv(h.agent, "INVITE ")
	ok = h.response(nil, slices.Clone(invite), n, true)
	h.out = slices.Clone(ok)
	h.send(h.agent, earshot)
	ack = slices.Clone(h.recvACK())
	msg, _ := h.recvStatus(h.caller, "INVITE")
	h.to = append(h.to[:0], header(msg, "To")...)
	h.contact = append(h.contact[:0], header(msg, "Contact")...)
	h.out = h.inDialog(h.out[:0], "ACK", n, 1)
	h.send(h.caller, h.srv)
	return ok, earshot, ack
}

// recvACK returns the next ACK the agent's phone gets within a second.
func (h *callHarness) recvACK() []byte {
	_ = h.agent.SetReadDeadline(time.Now().Add(time.Second))
	msg, _ := h.recv(h.agent, "ACK ")
	_ = h.agent.SetReadDeadline(time.Now().Add(5 * time.Second))
	return msg
}

// TestAbandoned2xxAckedAgain: the agent's phone answers as the caller
// gives up — its 200 crosses earshot's CANCEL. earshot ACKs the 200 and
// ends the agent's dialog with a BYE; the same ACK goes again for each
// retransmission of that 200, after the call itself has ended.
func TestAbandoned2xxAckedAgain(t *testing.T) {
	s, h := agentHarness(t)
	const n = 8
	h.readDeadline(5 * time.Second)

	h.invite(n)
	h.send(h.caller, h.srv)
	invite, earshot := h.recv(h.agent, "INVITE ")
	invite = slices.Clone(invite)
	ringing := h.response(nil, invite, n, false)
	h.out = bytes.Replace(ringing, []byte("200 OK"), []byte("180 Ringing"), 1)
	h.send(h.agent, earshot)
	h.recv(h.caller, "SIP/2.0 180 ")

	// The caller gives up; earshot CANCELs the agent's INVITE, and the
	// agent's 200 crosses that CANCEL.
	h.out = h.request(h.out[:0], "CANCEL", "", n, 1)
	h.out = bytes.Replace(h.out, []byte("branch=z9hG4bK-b8CANCEL"), []byte("branch=z9hG4bK-b8INVITE"), 1)
	h.out = append(h.out, "Content-Length: 0\r\n\r\n"...)
	h.send(h.caller, h.srv)
	h.recv(h.agent, "CANCEL ")
	ok := h.response(nil, invite, n, true)
	h.out = slices.Clone(ok)
	h.send(h.agent, earshot)
	first := slices.Clone(h.recvACK())
	bye, from := h.recv(h.agent, "BYE ")
	h.out = h.response(h.out[:0], bye, n, false)
	h.send(h.agent, from)
	waitNoCalls(t, s)

	h.out = slices.Clone(ok)
	h.send(h.agent, earshot)
	if again := h.recvACK(); !bytes.Equal(again, first) {
		t.Fatalf("ACK for the retransmission:\n%s\nwant the first ACK again:\n%s", again, first)
	}
}

// TestRetransmitted2xxAfterCallEnds: the agent's phone sends its 200 again
// after the call has ended (the ACK was lost, then the caller hung up):
// earshot sends the call's ACK once more, and a 200 from another fork
// gets its own ACK and a BYE. The ended call leaves no goroutine behind
// while its transactions wait out their timers (the INVITE's 64·T1): one
// per call held tens of thousands of goroutines, and every ended call's
// memory, at a few thousand calls a second.
func TestRetransmitted2xxAfterCallEnds(t *testing.T) {
	s, h := agentHarness(t)
	const n = 9
	h.readDeadline(5 * time.Second)
	base := runtime.NumGoroutine()

	ok, earshot, first := h.answerAcked(n)

	// The caller hangs up; the agent's phone takes the BYE.
	h.hangup(n)
	waitNoCalls(t, s)
	for end := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > base; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d goroutines after the call ended, %d before it", runtime.NumGoroutine(), base)
		}
	}

	h.out = slices.Clone(ok)
	h.send(h.agent, earshot)
	if again := h.recvACK(); !bytes.Equal(again, first) {
		t.Fatalf("ACK for the 200 after the call ended:\n%s\nwant the call's ACK again:\n%s", again, first)
	}
	h.out = bytes.Replace(ok, []byte(";tag=a"+strconv.Itoa(n)), []byte(";tag=late"), 1)
	h.send(h.agent, earshot)
	if ack := h.recvACK(); !bytes.HasSuffix(header(ack, "To"), []byte(";tag=late")) {
		t.Fatalf("ACK of another fork's 200 after the call ended:\n%s", ack)
	}
	bye, _ := h.recv(h.agent, "BYE ")
	if to := header(bye, "To"); !bytes.HasSuffix(to, []byte(";tag=late")) {
		t.Fatalf("BYE to the other fork has To %q:\n%s", to, bye)
	}
}

// TestMissed2xxAckedAtEnd: a 2xx the INVITE's transaction read while its
// call was ending, posted to a loop that had stopped, is answered when
// the transaction's goroutine sees the call gone: ACKed and released with
// a BYE at once, not only when the phone retransmits it; a retransmission
// then gets the same ACK.
func TestMissed2xxAckedAtEnd(t *testing.T) {
	s, h := agentHarness(t)
	_ = h.agent.SetReadDeadline(time.Now().Add(5 * time.Second))
	invite := sipRequest(t, "INVITE", "sip:1001@"+h.agentAddr.String(),
		"From: <sip:100@127.0.0.1>;tag=late-from", "To: <sip:1001@127.0.0.1>", "Call-ID: missed-2xx")
	invite.SetDestination(h.agentAddr.String())
	res := sip.NewResponseFromRequest(invite, 200, "OK", nil)
	res.To().Params.Add("tag", "late-to")
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: h.agentAddr.Addr().String(), Port: int(h.agentAddr.Port())}})

	hook := &againHook{ch: make(chan *sip.Response, 4)}
	hook.end(s, invite, ackLog{}, res)
	ack, _ := h.recv(h.agent, "ACK ")
	ack = slices.Clone(ack)
	if to := header(ack, "To"); !bytes.HasSuffix(to, []byte(";tag=late-to")) {
		t.Fatalf("ACK of the missed 2xx has To %q:\n%s", to, ack)
	}
	bye, _ := h.recv(h.agent, "BYE ")
	if cid := header(bye, "Call-ID"); string(cid) != "missed-2xx" {
		t.Fatalf("BYE after the missed 2xx has Call-ID %q:\n%s", cid, bye)
	}
	hook.receive(s, res)
	if again, _ := h.recv(h.agent, "ACK "); !bytes.Equal(again, ack) {
		t.Fatalf("ACK for the retransmission:\n%s\nwant the first again:\n%s", again, ack)
	}
}
