package b2bua

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"
)

// past waits until a transaction completed now has surely gone
// (testLinger, main_test.go).
func past() { time.Sleep(testLinger + 300*time.Millisecond) }

// TestRetransmitted2xxAckedPastLinger: the agent's phone retransmits its
// 200 after earshot's INVITE transaction has ended (its ACK was lost for
// longer than the transaction lingers): the call, still up, sends the
// same ACK again rather than drop the 200 as stray, and the phone does
// not end the call 64·T1 later for want of an ACK.
func TestRetransmitted2xxAckedPastLinger(t *testing.T) {
	s, h := agentHarness(t)
	const n = 21
	h.readDeadline(5 * time.Second)
	ok, earshot, first := h.answerAcked(n)
	past()

	stray := s.Stats().Dropped[DropStrayResponse]
	h.out = slices.Clone(ok)
	h.send(h.agent, earshot)
	if again := h.recvACK(); !bytes.Equal(again, first) {
		t.Fatalf("ACK for the 200 past the transaction:\n%s\nwant the first ACK again:\n%s", again, first)
	}
	if got := s.Stats().Dropped[DropStrayResponse]; got != stray {
		t.Fatalf("stray responses %d → %d: the 200 of a live call counted as stray", stray, got)
	}
	h.readDeadline(5 * time.Second)
	h.hangup(n)
}

// TestUAS2xxRetransmittedPastLinger: earshot's 200 to a caller whose ACK
// does not come is retransmitted at T1, 2·T1, 4·T1 after it (RFC 3261
// §13.3.1.4), also once its INVITE transaction has ended (it lingers
// less than the 64·T1 of the retransmissions), and the late ACK still
// confirms the call.
func TestUAS2xxRetransmittedPastLinger(t *testing.T) {
	s, h := agentHarness(t)
	const n = 22
	h.readDeadline(8 * time.Second)
	h.invite(n)
	h.send(h.caller, h.srv)
	invite, earshot := h.recv(h.agent, "INVITE ")
	h.out = h.response(nil, slices.Clone(invite), n, true)
	h.send(h.agent, earshot)
	h.recvACK()

	first, _ := h.recvStatus(h.caller, "INVITE")
	first = slices.Clone(first)
	start := time.Now()
	// The retransmissions at 0.5, 1.5 and 3.5 s: the last two after the
	// transaction ended.
	for i := range 3 {
		again, _ := h.recvStatus(h.caller, "INVITE")
		if !bytes.Equal(again, first) {
			t.Fatalf("retransmission %d differs from the 200:\n%s\nwant:\n%s", i+1, again, first)
		}
	}
	if el := time.Since(start); el < 3*time.Second || el > 4500*time.Millisecond {
		t.Fatalf("third retransmission %v after the 200, want 3.5 s", el)
	}
	h.to = append(h.to[:0], header(first, "To")...)
	h.contact = append(h.contact[:0], header(first, "Contact")...)
	h.out = h.inDialog(h.out[:0], "ACK", n, 1)
	h.send(h.caller, h.srv)
	h.hangup(n)
	if got := s.Stats().Dropped[DropStrayResponse]; got != 0 {
		t.Fatalf("stray responses: %d", got)
	}
}

// TestBYERetransmittedPastLinger: a BYE retransmitted while its
// transaction lingers gets the same 200 again and ends nothing twice;
// one retransmitted after that is a request for a dialog that is gone:
// 481 (the trade of sip.transaction_linger against RFC 3261's 64·T1).
func TestBYERetransmittedPastLinger(t *testing.T) {
	_, h := agentHarness(t)
	const n = 23
	h.readDeadline(5 * time.Second)
	h.answerAcked(n)
	h.hangup(n)

	bye := slices.Clone(h.inDialog(h.out[:0], "BYE", n, 2))
	h.out = bye
	h.send(h.caller, h.srv)
	h.recvStatus(h.caller, "BYE")

	past()
	h.out = bye
	h.send(h.caller, h.srv)
	msg, _ := h.recv(h.caller, "SIP/2.0 ")
	if !bytes.HasPrefix(msg, []byte("SIP/2.0 481 ")) {
		t.Fatalf("BYE retransmitted past the transaction answered:\n%s\nwant 481", msg)
	}
}

// TestRetransmissionsAnsweredWithinLinger: sipgo's server transactions
// end at their final response; within the linger earshot answers their
// requests' retransmissions itself (answered.go). The carrier's INVITE
// retransmitted after the call was answered is absorbed — no second
// INVITE to the agent, no 482 — and its BYE retransmitted gets the same
// 200 byte for byte, without a second BYE to the agent; both are
// counted.
func TestRetransmissionsAnsweredWithinLinger(t *testing.T) {
	s, h := agentHarness(t)
	const n = 24
	h.readDeadline(5 * time.Second)
	h.answerAcked(n)

	h.invite(n)
	h.send(h.caller, h.srv)
	quiet(t, h.agent, "agent, after the INVITE came again")
	quiet(t, h.caller, "carrier, after its INVITE came again")

	h.readDeadline(5 * time.Second)
	h.out = h.inDialog(h.out[:0], "BYE", n, 2)
	bye := slices.Clone(h.out)
	h.send(h.caller, h.srv)
	msg, from := h.recv(h.agent, "BYE ")
	h.out = h.response(h.out[:0], msg, n, false)
	h.send(h.agent, from)
	first, _ := h.recvStatus(h.caller, "BYE")
	first = slices.Clone(first)

	h.out = bye
	h.send(h.caller, h.srv)
	if again, _ := h.recvStatus(h.caller, "BYE"); !bytes.Equal(again, first) {
		t.Fatalf("200 to the BYE again:\n%s\nwant the first:\n%s", again, first)
	}
	quiet(t, h.agent, "agent, after the BYE came again")
	st := s.Stats().Retransmissions
	if st[RetransAbsorbed] != 1 || st[RetransAnswered] != 1 {
		t.Fatalf("retransmissions counted %v, want one absorbed and one answered", st)
	}
}

// quiet fails t when c receives anything within 300 ms.
func quiet(t *testing.T, c *net.UDPConn, who string) {
	t.Helper()
	buf := make([]byte, 65535)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := c.ReadFromUDP(buf); err == nil {
		t.Fatalf("%s got:\n%s", who, buf[:n])
	}
}
