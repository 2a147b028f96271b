package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// TestLateOfferCall: a customer's INVITE carries no SDP (RFC 3261 §13.2.1
// late offer). earshot offers to the agent itself, offers the customer the
// agent's codec in the 200, takes the customer's answer from the ACK, and
// both hear each other. A first customer sends no RTP at all, so what it
// hears reached it through the address of its ACK's answer, not latching.
func TestLateOfferCall(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	for i, mute := range []bool{true, false} {
		cfg := phone.Config{IP: "127.0.0.2", User: "5559876", Tone: toneCustomer, Server: e.udp()}
		if mute {
			cfg.Loss = 1 // every packet the customer sends is dropped
		}
		late, err := phone.NewWith(cfg, phone.Options{LateOffer: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(late.Close)
		type answered struct {
			invite string
			s      *phone.Session
		}
		got := make(chan answered, 1)
		go func() {
			defer close(got)
			in, err := agent.Next(ctx(t))
			if err != nil {
				return
			}
			s, err := in.Answer()
			if err != nil {
				return
			}
			got <- answered{in.Req.String(), s}
		}()
		cs, err := late.Call(ctx(t), "100")
		if err != nil {
			t.Fatalf("late-offer call: %v", err)
		}
		a, ok := <-got
		if !ok {
			t.Fatal("agent did not answer")
		}
		if !strings.Contains(a.invite, "m=audio ") || !strings.Contains(a.invite, "RTP/AVP 0 8 101") {
			t.Fatalf("agent's INVITE carries no earshot offer of PCMU, PCMA and telephone-event:\n%s", a.invite)
		}
		expectHears(t, "customer", cs, toneAgent)
		if !mute {
			expectHears(t, "agent", a.s, toneCustomer)
		}
		if err := cs.Hangup(ctx(t)); err != nil {
			t.Fatal(err)
		}
		waitEnded(t, "agent", a.s)
		waitActive(t, e, 0)
		if n := e.app.SIP.Stats().CallsByOutcome["caller_hangup"]; n != uint64(i+1) {
			t.Fatalf("outcomes %v", e.app.SIP.Stats().CallsByOutcome)
		}
	}
}

// TestLateOfferAckWithoutAnswer: the customer's ACK answers nothing, so the
// call has no media; earshot must end it with BYE to both sides.
func TestLateOfferAckWithoutAnswer(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	ans := answerNext(t, agent)
	u := newRawUA(t, e.udp())
	u.invite("100", "", "")
	ok := u.await("200 to the INVITE", 5*time.Second, func(m string) bool { return status(m) == 200 })
	if b := body(ok); !strings.Contains(b, "m=audio ") || !strings.Contains(b, "c=IN IP4 127.0.0.1") {
		t.Fatalf("200 to a late-offer INVITE carries no offer from earshot:\n%s", ok)
	}
	as := <-ans
	if as == nil {
		t.Fatal("agent did not answer")
	}
	u.inDialog(ok, "ACK", "", "")
	bye := u.await("BYE from earshot", 5*time.Second, func(m string) bool { return strings.HasPrefix(m, "BYE ") })
	u.reply(bye, 200, "OK")
	waitEnded(t, "agent", as)
	waitActive(t, e, 0)
	if n := e.app.SIP.Stats().CallsByOutcome["error"]; n != 1 {
		t.Fatalf("outcomes %v", e.app.SIP.Stats().CallsByOutcome)
	}
}

// TestLateOfferSupervisorDialIn: a supervisor's softphone dials *3 + the
// agent without SDP; earshot offers in the 200, the phone answers in the
// ACK, and the barge is heard both ways. The supervisor sends no RTP of
// its own before it hears the call, so the ACK's answer is what routes it.
func TestLateOfferSupervisorDialIn(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	sp, err := phone.NewWith(phone.Config{IP: "127.0.0.15", User: "2001", Password: "demo", Tone: sSup,
		Level: sLevel, Server: e.udp()}, phone.Options{LateOffer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	if code, err := sp.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register supervisor: %d %v", code, err)
	}
	ss, code := dial(t, sp, "*31001")
	if code != 200 {
		t.Fatalf("*31001 without SDP answered %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	sc.expect("barge by late offer", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}},
		sCust, sAgt, sSup)
	if err := ss.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestReinviteWithoutSDP: the customer refreshes with a re-INVITE that
// carries no SDP; earshot offers its current SDP again (same o= version)
// in the 200, takes the answer from the ACK — here a new RTP port — and
// the agent's audio follows to it.
func TestReinviteWithoutSDP(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	ans := answerNext(t, agent)
	first, second := rtpSocket(t), rtpSocket(t)
	u := newRawUA(t, e.udp())
	u.invite("100", "", sdpFrom("127.0.0.2", localPort(first)))
	ok := u.await("200 to the INVITE", 5*time.Second, func(m string) bool { return status(m) == 200 })
	as := <-ans
	if as == nil {
		t.Fatal("agent did not answer")
	}
	u.inDialog(ok, "ACK", "", "")
	expectPackets(t, "first port", first)

	u.inDialog(ok, "INVITE", "", "")
	re := u.await("200 to the re-INVITE", 5*time.Second, func(m string) bool {
		return status(m) == 200 && cseqMethod(m) == "INVITE" && header(m, "CSeq") != header(ok, "CSeq")
	})
	if originLine(body(re)) != originLine(body(ok)) {
		t.Fatalf("re-offer changed the o= line: %q, was %q", originLine(body(re)), originLine(body(ok)))
	}
	u.inDialog(re, "ACK", "", sdpFrom("127.0.0.2", localPort(second)))
	expectPackets(t, "port from the ACK's answer", second)
	if err := as.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	bye := u.await("BYE", 5*time.Second, func(m string) bool { return strings.HasPrefix(m, "BYE ") })
	u.reply(bye, 200, "OK")
	waitActive(t, e, 0)
}

func rtpSocket(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func localPort(c net.PacketConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// expectPackets waits for RTP on c, draining what came before.
func expectPackets(t *testing.T, what string, c net.PacketConn) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := c.ReadFrom(buf); err != nil {
		t.Fatalf("no RTP on the %s: %v", what, err)
	}
}

func originLine(sdp string) string {
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "o=") {
			return l
		}
	}
	return ""
}
