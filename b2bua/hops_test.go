package b2bua

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// TestMaxForwardsCarriedThrough: the INVITE earshot sends the agent
// carries the caller's Max-Forwards less one (70 at most), and an INVITE
// that arrives with none left gets 483 without ringing anyone — a routing
// loop through earshot ends instead of filling the call table.
func TestMaxForwardsCarriedThrough(t *testing.T) {
	s, h := agentHarness(t)
	h.idle = func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.calls) == 0
	}
	// invite sends the carrier's INVITE number n with the given
	// Max-Forwards line ("" for none).
	invite := func(n int, maxFwd string) {
		h.invite(n)
		h.out = bytes.Replace(h.out, []byte("Max-Forwards: 70\r\n"), []byte(maxFwd), 1)
		h.send(h.caller, h.srv)
	}
	for i, c := range []struct {
		in, out string
	}{
		{"Max-Forwards: 70\r\n", "69"},
		{"Max-Forwards: 5\r\n", "4"},
		{"Max-Forwards: 1\r\n", "0"},
		{"Max-Forwards: 255\r\n", "69"},
		{"", "69"},
	} {
		n := 20 + i
		invite(n, c.in)
		msg, from := h.recv(h.agent, "INVITE ")
		if got := header(msg, "Max-Forwards"); string(got) != c.out {
			t.Errorf("caller's %q: the agent's INVITE has Max-Forwards %q, want %s", c.in, got, c.out)
		}
		// The agent answers, the carrier ACKs and hangs up.
		h.out = h.response(h.out[:0], msg, n, true)
		h.send(h.agent, from)
		msg, _ = h.recvStatus(h.caller, "INVITE")
		h.to = append(h.to[:0], header(msg, "To")...)
		h.contact = append(h.contact[:0], header(msg, "Contact")...)
		h.out = h.inDialog(h.out[:0], "ACK", n, 1)
		h.send(h.caller, h.srv)
		h.hangup(n)
		for deadline := time.Now().Add(5 * time.Second); !h.idle(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("call %d still in the table: %+v", n, s.Calls())
			}
		}
	}

	// None left: 483, nobody rung, no call.
	invite(30, "Max-Forwards: 0\r\n")
	msg, _ := h.recv(h.caller, "SIP/2.0 ")
	for bytes.HasPrefix(msg, []byte("SIP/2.0 1")) {
		msg, _ = h.recv(h.caller, "SIP/2.0 ")
	}
	if !bytes.HasPrefix(msg, []byte("SIP/2.0 483 ")) {
		t.Fatalf("INVITE with Max-Forwards 0 answered:\n%s", msg)
	}
	if calls := s.Calls(); len(calls) != 0 {
		t.Fatalf("calls after a 483: %+v", calls)
	}
	_ = h.agent.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := h.agent.ReadFromUDPAddrPort(h.in); err == nil {
		t.Fatalf("the agent got a message after the 483:\n%s", h.in[:n])
	}
}

// TestInDialogRequestNeedsPeersTag: a BYE with the call's Call-ID and
// earshot's To tag but another From tag is not of the dialog (RFC 3261
// §12.2.2): 481, and the call goes on until the real BYE.
func TestInDialogRequestNeedsPeersTag(t *testing.T) {
	s, h := agentHarness(t)
	const n = 40
	h.answer(n)
	h.out = h.inDialog(h.out[:0], "BYE", n, 2)
	h.out = bytes.Replace(h.out, []byte(";tag=c40\r\n"), []byte(";tag=other\r\n"), 1)
	h.out = bytes.Replace(h.out, []byte("branch=z9hG4bK-b40"), []byte("branch=z9hG4bK-x40"), 1)
	h.send(h.caller, h.srv)
	msg, _ := h.recv(h.caller, "SIP/2.0 ")
	if !bytes.HasPrefix(msg, []byte("SIP/2.0 481 ")) {
		t.Fatalf("BYE with another From tag answered:\n%s", msg)
	}
	if cs := s.Calls(); len(cs) != 1 || cs[0].State != StateAnswered {
		t.Fatalf("calls after the stranger's BYE: %+v", cs)
	}
	h.hangup(n)
}

// TestMergedInviteLoopDetected: the INVITE of a call in progress that
// comes again by another path (same Call-ID, From tag and CSeq, another
// branch: a forking proxy upstream) gets 482 and rings nobody a second
// time (RFC 3261 §8.2.2.2); the call goes on.
func TestMergedInviteLoopDetected(t *testing.T) {
	s, h := agentHarness(t)
	const n = 50
	h.readDeadline(5 * time.Second)
	invite := func(branch string) {
		h.invite(n)
		h.out = bytes.Replace(h.out, []byte("branch=z9hG4bK-b50INVITE"), []byte("branch="+branch), 1)
		h.send(h.caller, h.srv)
	}
	invite("z9hG4bK-b50INVITE")
	msg, earshot := h.recv(h.agent, "INVITE ")
	ok := h.response(nil, msg, n, true)
	rung := slices.Clone(header(msg, "Call-ID"))

	invite("z9hG4bK-merged")
	for {
		res, _ := h.recv(h.caller, "SIP/2.0 ")
		if !bytes.Contains(header(res, "Via"), []byte("z9hG4bK-merged")) || res[8] == '1' {
			continue
		}
		if !bytes.HasPrefix(res, []byte("SIP/2.0 482 ")) {
			t.Fatalf("the merged INVITE answered:\n%s", res)
		}
		break
	}
	if cs := s.Calls(); len(cs) != 1 {
		t.Fatalf("calls after the merged INVITE: %+v", cs)
	}
	// The first call is answered and ends as usual; its agent was rung
	// once.
	h.out = ok
	h.send(h.agent, earshot)
	res, _ := h.recvStatus(h.caller, "INVITE")
	h.to = append(h.to[:0], header(res, "To")...)
	h.contact = append(h.contact[:0], header(res, "Contact")...)
	h.out = h.inDialog(h.out[:0], "ACK", n, 1)
	h.send(h.caller, h.srv)
	h.out = h.inDialog(h.out[:0], "BYE", n, 2)
	h.send(h.caller, h.srv)
	for {
		m, from := h.recv(h.agent, "")
		if bytes.HasPrefix(m, []byte("INVITE ")) && !bytes.Equal(header(m, "Call-ID"), rung) {
			t.Fatalf("the agent was rung again:\n%s", m)
		}
		if bytes.HasPrefix(m, []byte("BYE ")) {
			h.out = h.response(h.out[:0], m, n, false)
			h.send(h.agent, from)
			break
		}
	}
	h.recvStatus(h.caller, "BYE")
}
