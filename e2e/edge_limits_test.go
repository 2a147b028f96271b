package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
	"github.com/icholy/digest"
)

// syncBuffer collects earshot's log for a test to read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestINVITEFloodIsLimited: one address floods INVITEs at ten times its
// rate limit for three seconds while a carrier and a registered user keep
// calling: every legitimate call completes, the flooder is limited within
// two seconds and gets answers to no more than its rate allows, and the
// security line fail2ban reads appears.
func TestINVITEFloodIsLimited(t *testing.T) {
	cfg := testConfig(t)
	var logs syncBuffer
	e := startLogging(t, cfg, &logs)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cust := e.customer()
	user := e.agent("1002", "127.0.0.14", toneOther)
	rate := cfg.SIP.Limits.InviteRate

	flood, err := net.ListenPacket("udp4", "127.0.0.66:0")
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	server, _ := net.ResolveUDPAddr("udp", e.udp())
	// The INVITEs answered, by Call-ID: a final response is retransmitted
	// until an ACK the flooder never sends.
	var answeredMu sync.Mutex
	answeredIDs := map[string]bool{}
	answered := func() int64 {
		answeredMu.Lock()
		defer answeredMu.Unlock()
		return int64(len(answeredIDs))
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := flood.ReadFrom(buf)
			if err != nil {
				return
			}
			answeredMu.Lock()
			answeredIDs[header(string(buf[:n]), "Call-ID")] = true
			answeredMu.Unlock()
		}
	}()
	const seconds = 3
	sent := 0
	start := time.Now()
	stop := make(chan struct{})
	floodDone := make(chan struct{})
	limitedAt := make(chan time.Duration, 1)
	go func() {
		defer close(floodDone)
		tick := time.NewTicker(time.Second / time.Duration(10*rate))
		defer tick.Stop()
		for range seconds * 10 * rate {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sent++
			msg := fmt.Sprintf("INVITE sip:100@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-f%[3]d\r\n"+
				"From: <sip:flood@127.0.0.66>;tag=f%[3]d\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: flood-%[3]d\r\n"+
				"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", e.udp(), flood.LocalAddr(), sent)
			_, _ = flood.WriteTo([]byte(msg), server)
			if len(limitedAt) == 0 && e.app.SIP.Stats().Refused["rate_limit"] > 0 {
				limitedAt <- time.Since(start)
			}
		}
	}()

	// Meanwhile, legitimate calls one after the other.
	calls := 0
	for time.Since(start) < seconds*time.Second {
		caller := cust
		if calls%2 == 1 {
			caller = user
		}
		got := answerNext(t, agent)
		s, err := caller.Call(ctx(t), "100")
		if err != nil {
			t.Fatalf("legitimate call %d during the flood: %v", calls, err)
		}
		as := <-got
		if as == nil {
			t.Fatalf("call %d: agent did not answer", calls)
		}
		if err := s.Hangup(ctx(t)); err != nil {
			t.Fatalf("call %d: hang-up: %v", calls, err)
		}
		waitEnded(t, "agent", as)
		waitIdle(t, e)
		calls++
	}
	close(stop)
	<-floodDone
	elapsed := time.Since(start)
	if calls < 5 {
		t.Fatalf("only %d legitimate calls in %v", calls, elapsed)
	}
	select {
	case d := <-limitedAt:
		if d > 2*time.Second {
			t.Fatalf("the flooder was limited after %v, want within 2s", d)
		}
	default:
		t.Fatal("the flooder was never limited")
	}
	// Answered at most: the burst plus the rate over the flood.
	if max := int64(2*rate + rate*int(elapsed.Seconds()+1)); answered() > max {
		t.Fatalf("the flooder got answers to %d of %d INVITEs, want at most %d", answered(), sent, max)
	}
	if n := e.app.SIP.Stats().Refused["rate_limit"]; n < uint64(sent/2) {
		t.Fatalf("%d INVITEs refused of %d sent", n, sent)
	}
	if securityLines(logs.String(), "rate_limit", "127.0.0.66") == 0 {
		t.Fatalf("no security line for the flooder in the log:\n%s", tail(logs.String()))
	}
	t.Logf("%d legitimate calls completed while %d INVITEs flooded in %v; the flooder got answers to %d", calls, sent, elapsed, answered())
}

// waitIdle waits until earshot has no call left (the agent is free again).
func waitIdle(t *testing.T, e *env) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.app.SIP.ActiveCalls() > 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a call did not end")
		}
	}
}

// securityLines counts the log lines that docs/security.md's fail2ban
// filter matches for host with the given reason.
func securityLines(log, reason, host string) int {
	re := regexp.MustCompile(`msg="security: request refused" .*\breason=` + reason + ` src=` + regexp.QuoteMeta(host) + `\b`)
	return len(re.FindAllString(log, -1))
}

// tail is the end of a log, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// register sends REGISTER for ext from conn, answering the challenge with
// password; it returns the final status, 0 if none came within d.
func registerOnce(t *testing.T, conn net.PacketConn, server, ext, password string, cseq *int, d time.Duration) int {
	t.Helper()
	srv, _ := net.ResolveUDPAddr("udp", server)
	local := conn.LocalAddr().String()
	send := func(auth string) string {
		*cseq++
		msg := "REGISTER sip:" + server + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-r" + strconv.Itoa(*cseq) + "\r\n" +
			"From: <sip:" + ext + "@127.0.0.1>;tag=r\r\nTo: <sip:" + ext + "@127.0.0.1>\r\n" +
			"Call-ID: reg-" + local + "\r\nCSeq: " + strconv.Itoa(*cseq) + " REGISTER\r\n" +
			"Contact: <sip:" + ext + "@" + local + ">\r\nMax-Forwards: 70\r\n" + auth + "Content-Length: 0\r\n\r\n"
		if _, err := conn.WriteTo([]byte(msg), srv); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(d))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	res := send("")
	if status(res) != 401 {
		return status(res)
	}
	cred := credentials(t, res, server, ext, password)
	return status(send("Authorization: " + cred + "\r\n"))
}

// credentials answers the MD5 challenge of a 401.
func credentials(t *testing.T, res, server, ext, password string) string {
	t.Helper()
	for _, l := range strings.Split(res, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "WWW-Authenticate") {
			c, err := digest.ParseChallenge(strings.TrimSpace(v))
			if err != nil || (c.Algorithm != "" && c.Algorithm != "MD5") {
				continue
			}
			cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:" + server, Username: ext, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			return cred.String()
		}
	}
	t.Fatalf("no MD5 challenge in %q", res)
	return ""
}

// TestAuthFailuresBanTheSource: repeated wrong passwords from one address
// ban it; it then gets no answer at all, while other addresses register.
func TestAuthFailuresBanTheSource(t *testing.T) {
	cfg := testConfig(t)
	cfg.SIP.Limits.AuthFailures = 5
	var logs syncBuffer
	e := startLogging(t, cfg, &logs)
	guesser, err := net.ListenPacket("udp4", "127.0.0.67:0")
	if err != nil {
		t.Fatal(err)
	}
	defer guesser.Close()
	cseq := 0
	for i := range 5 {
		if code := registerOnce(t, guesser, e.udp(), "1001", "guess"+strconv.Itoa(i), &cseq, 2*time.Second); code != 403 {
			t.Fatalf("wrong password %d: %d, want 403", i, code)
		}
	}
	if code := registerOnce(t, guesser, e.udp(), "1001", "demo", &cseq, 500*time.Millisecond); code != 0 {
		t.Fatalf("banned source got %d, want no answer", code)
	}
	e.agent("1001", "127.0.0.13", toneAgent) // another address is not affected
	log := logs.String()
	if n := securityLines(log, "auth_failed", "127.0.0.67"); n != 5 {
		t.Fatalf("%d auth_failed lines, want 5:\n%s", n, tail(log))
	}
	if !regexp.MustCompile(`msg="security: source banned" .*reason=auth_failures src=127\.0\.0\.67 ban_seconds=600`).MatchString(log) {
		t.Fatalf("no ban line:\n%s", tail(log))
	}
	st := e.app.SIP.Stats()
	if st.Refused["auth_failed"] != 5 || st.Refused["banned"] < 2 {
		t.Fatalf("refused %v", st.Refused)
	}
}

// TestStaleNonceAfterRestart: credentials computed on a challenge from
// before a restart (another process's nonce key) get a fresh challenge
// marked stale, not 403, so phones re-register without asking anyone.
func TestStaleNonceAfterRestart(t *testing.T) {
	before := start(t, testConfig(t))
	after := start(t, testConfig(t))
	conn, err := net.ListenPacket("udp4", "127.0.0.15:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	branch := 0
	ask := func(server, auth string) string {
		srv, _ := net.ResolveUDPAddr("udp", server)
		branch++
		msg := "REGISTER sip:" + server + " SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-s" + strconv.Itoa(branch) + "\r\n" +
			"From: <sip:1001@127.0.0.1>;tag=s\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: stale@test\r\nCSeq: 1 REGISTER\r\n" +
			"Contact: <sip:1001@" + conn.LocalAddr().String() + ">\r\nMax-Forwards: 70\r\n" + auth + "Content-Length: 0\r\n\r\n"
		_, _ = conn.WriteTo([]byte(msg), srv)
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer from %s: %v", server, err)
		}
		return string(buf[:n])
	}
	chal := ask(before.udp(), "")
	// The same credentials (same URI form) for the other instance.
	cred := credentials(t, chal, after.udp(), "1001", "demo")
	res := ask(after.udp(), "Authorization: "+cred+"\r\n")
	if status(res) != 401 || !strings.Contains(strings.ToLower(header(res, "WWW-Authenticate")), "stale=true") {
		t.Fatalf("credentials on a nonce from before the restart: %q, want 401 with stale=true", strings.SplitN(res, "\r\n", 2)[0]+" "+header(res, "WWW-Authenticate"))
	}
	// With a wrong password it is a failure, whatever the nonce.
	cred = credentials(t, chal, after.udp(), "1001", "wrong")
	if res := ask(after.udp(), "Authorization: "+cred+"\r\n"); status(res) != 403 {
		t.Fatalf("wrong password on a foreign nonce: %d, want 403", status(res))
	}
}

// TestTCPConnectionsBounded: one address may hold tcp_connections
// connections; a connection that never completes a header block is cut
// after tcp_header_timeout; TCP phones still work.
func TestTCPConnectionsBounded(t *testing.T) {
	cfg := testConfig(t)
	cfg.SIP.Limits.TCPConnections = 4
	cfg.SIP.Limits.TCPHeaderTimeout = config.Duration(500 * time.Millisecond)
	e := start(t, cfg)
	var conns []net.Conn
	for range 6 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.68")}}
		c, err := d.Dial("tcp", e.tcp())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.68:1"))
		conns = append(conns, c)
	}
	start := time.Now()
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF || isReset(err) {
			closed++
		} else if err != nil {
			t.Fatalf("read: %v (the connection outlived the header timeout)", err)
		}
	}
	if closed != 6 {
		t.Fatalf("%d of 6 slow connections closed", closed)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slow connections cut after %v, want about 500ms", d)
	}
	if n := e.app.SIP.Stats().Refused["connections"]; n < 2 {
		t.Fatalf("connections refused %d, want the 2 past the cap", n)
	}
	// A TCP phone is not held up.
	p := e.phone(phone.Config{IP: "127.0.0.13", User: "1001", Password: "demo", Tone: toneAgent, TCP: true})
	if code, err := p.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("TCP phone: %d %v", code, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}

// TestTCPOptionsFloodIsLimited: OPTIONS sent back to back over one TCP
// connection meet the same per-source rate as datagrams: the burst (twice
// options_rate) is answered, the rest dropped unanswered and counted, and
// the connection keeps serving once the bucket refills.
func TestTCPOptionsFloodIsLimited(t *testing.T) {
	cfg := testConfig(t)
	cfg.SIP.Limits.OptionsRate = 5
	e := start(t, cfg)
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.69")}}).Dial("tcp", e.tcp())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	options := func(i int) string {
		return fmt.Sprintf("OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/TCP %[2]s;branch=z9hG4bK-flood%[3]d\r\nFrom: <sip:scan@%[2]s>;tag=f%[3]d\r\n"+
			"To: <sip:%[1]s>\r\nCall-ID: flood-%[3]d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", e.tcp(), c.LocalAddr(), i)
	}
	var burst strings.Builder
	for i := range 100 {
		burst.WriteString(options(i))
	}
	if _, err := c.Write([]byte(burst.String())); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	answered := 0
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(line, "SIP/2.0 200") {
			answered++
		}
	}
	// 10 in the burst, and the bucket's refill (5/s) while the 100 are
	// read: a few more at most.
	if answered < 10 || answered > 16 {
		t.Fatalf("%d of 100 flooded OPTIONS answered over TCP, want the burst of 10 (and at most a second's refill)", answered)
	}
	if n := e.app.SIP.Stats().Refused["rate_limit"]; int(n) != 100-answered {
		t.Fatalf("rate_limit refusals %d, want the %d dropped", n, 100-answered)
	}
	// The connection still serves once the bucket has refilled.
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Write([]byte(options(1000))); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("after the flood: %q %v", line, err)
	}
}
