package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
)

// ringing180s returns the reliable 180s among msgs, failing on one that is
// not reliable or carries another RSeq than want.
func ringing180s(t *testing.T, msgs []string, want string) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		if status(m) != 180 {
			continue
		}
		if !strings.Contains(header(m, "Require"), "100rel") || header(m, "RSeq") != want {
			t.Fatalf("180 with Require %q RSeq %q, want 100rel and %s", header(m, "Require"), header(m, "RSeq"), want)
		}
		out = append(out, m)
	}
	return out
}

// TestReliableProvisionalRetransmittedUntilPrack: a caller that requires
// 100rel gets its 180 again (T1, 2·T1, ...) until it sends PRACK; a PRACK
// that matches nothing gets 481; after the right PRACK the 180 stops, and
// the call is answered normally.
func TestReliableProvisionalRetransmittedUntilPrack(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	answer := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		_ = in.Ring()
		<-answer
		if s, err := in.Answer(); err == nil {
			<-s.Ended()
		}
	}()
	u := newRawUA(t, e.udp())
	u.invite("100", "Require: 100rel\r\nSupported: 100rel\r\n", sdpFrom("127.0.0.2", 40002))
	// The first 180 and its retransmissions after 0.5 s and 1.5 s.
	first := u.await("reliable 180", 5*time.Second, func(m string) bool { return status(m) == 180 })
	got := append([]string{first}, ringing180s(t, u.until(2200*time.Millisecond), "1")...)
	ringing180s(t, got[:1], "1")
	if len(got) < 3 {
		t.Fatalf("180 sent %d times in 2.2 s without PRACK, want at least 3", len(got))
	}
	u.inDialog(first, "PRACK", "RAck: 7 1 INVITE\r\n", "")
	if r := u.await("answer to a wrong PRACK", 5*time.Second, func(m string) bool { return cseqMethod(m) == "PRACK" }); status(r) != 481 {
		t.Fatalf("PRACK for RSeq 7 answered %d, want 481", status(r))
	}
	u.inDialog(first, "PRACK", "RAck: 1 1 INVITE\r\n", "")
	if r := u.await("answer to the PRACK", 5*time.Second, func(m string) bool { return cseqMethod(m) == "PRACK" }); status(r) != 200 {
		t.Fatalf("PRACK answered %d, want 200", status(r))
	}
	// Unacknowledged, the next copy would come 3.5 s after the first.
	if again := ringing180s(t, u.until(2500*time.Millisecond), "1"); len(again) > 0 {
		t.Fatalf("180 still retransmitted after PRACK: %d more", len(again))
	}
	close(answer)
	ok := u.await("200 to the INVITE", 5*time.Second, func(m string) bool { return status(m) == 200 && cseqMethod(m) == "INVITE" })
	u.inDialog(ok, "ACK", "", "")
	u.inDialog(ok, "BYE", "", "")
	u.await("200 to BYE", 5*time.Second, func(m string) bool { return status(m) == 200 && cseqMethod(m) == "BYE" })
	<-done
	waitActive(t, e, 0)
}

// TestReliableProvisionalNeverAcknowledged: without PRACK for 64·T1 (32 s)
// earshot refuses the INVITE with a 5xx and cancels the agent's ringing.
func TestReliableProvisionalNeverAcknowledged(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Tenants[0].Groups[0].RingTimeout = config.Duration(2 * time.Minute)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	canceled := make(chan bool, 1)
	go func() {
		in, err := agent.Next(ctx(t))
		if err != nil {
			canceled <- false
			return
		}
		_ = in.Ring()
		select {
		case <-in.Canceled():
			canceled <- true
		case <-time.After(45 * time.Second):
			canceled <- false
		}
	}()
	u := newRawUA(t, e.udp())
	began := time.Now()
	u.invite("100", "Require: 100rel\r\n", sdpFrom("127.0.0.2", 40004))
	final := u.await("final response", 45*time.Second, func(m string) bool { return status(m) >= 200 })
	if code := status(final); code < 500 || code > 599 {
		t.Fatalf("unacknowledged 180 ended with %d, want a 5xx", code)
	}
	if took := time.Since(began); took < 30*time.Second {
		t.Fatalf("gave up after %v, before 64·T1", took)
	}
	if !<-canceled {
		t.Fatal("the agent's ringing was not canceled")
	}
	waitActive(t, e, 0)
}

func sdpFrom(ip string, port int) string {
	return "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
}

// TestReliableEarlyAnswerHoldsTheFinal: the agent answers early (183 with
// SDP); toward a caller that requires 100rel that 183 is reliable and
// carries the answer, so the 200 waits for its PRACK and repeats no SDP.
func TestReliableEarlyAnswerHoldsTheFinal(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	answer := make(chan struct{})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		_ = in.Progress()
		<-answer
		_, _ = in.Answer()
	}()
	u := newRawUA(t, e.udp())
	u.invite("100", "Require: 100rel\r\n", sdpFrom("127.0.0.2", 40006))
	early := u.await("reliable 183", 5*time.Second, func(m string) bool { return status(m) == 183 })
	if header(early, "RSeq") == "" || !strings.Contains(body(early), "m=audio ") {
		t.Fatalf("183 not reliable or without the SDP answer:\n%s", early)
	}
	close(answer)
	<-answered
	for _, m := range u.until(1500 * time.Millisecond) {
		if status(m) == 200 {
			t.Fatal("200 sent before the PRACK of the 183 that carried the answer")
		}
	}
	u.inDialog(early, "PRACK", "RAck: "+header(early, "RSeq")+" 1 INVITE\r\n", "")
	ok := u.await("200 to the INVITE", 5*time.Second, func(m string) bool { return status(m) == 200 && cseqMethod(m) == "INVITE" })
	if b := body(ok); b != "" {
		t.Fatalf("200 repeats SDP after a reliable early answer:\n%s", ok)
	}
	u.inDialog(ok, "ACK", "", "")
	u.inDialog(ok, "BYE", "", "")
	u.await("200 to BYE", 5*time.Second, func(m string) bool { return status(m) == 200 && cseqMethod(m) == "BYE" })
	waitActive(t, e, 0)
}
