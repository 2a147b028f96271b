package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/testcert"
)

// readMessage reads one SIP message (header block and Content-Length
// bytes of body) from a stream, or "" if none came within 3 s.
func readMessage(t *testing.T, conn net.Conn, r *bufio.Reader) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b strings.Builder
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ""
		}
		b.WriteString(line)
		if line == "\r\n" {
			if b.Len() == 2 {
				b.Reset() // a keep-alive
				continue
			}
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.EqualFold(strings.TrimSpace(name), "l")) {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return ""
	}
	return b.String() + string(body)
}

// finalOn reads messages until a final response, and returns it.
func finalOn(t *testing.T, conn net.Conn, r *bufio.Reader) string {
	t.Helper()
	for {
		m := readMessage(t, conn, r)
		if m == "" || status(m) >= 200 {
			return m
		}
	}
}

// TestTCPFraming: over TCP, a request of another SIP version gets 505 and
// one the SIP stack's parser refuses gets 400 (RFC 3261 §8.2.1, §21.4.1),
// and the connection carries on; a message whose end cannot be found (no
// Content-Length, a negative one, binary garbage) is answered 400 where
// it can be and the connection is closed. The drops show in /metrics, and
// a call completes after.
func TestTCPFraming(t *testing.T) {
	e := start(t, testConfig(t))
	dial := func(ip byte) (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, ip)}}).Dial("tcp", e.tcp())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	send := func(conn net.Conn, msg string) {
		t.Helper()
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	request := func(conn net.Conn, start, tag, extra string) string {
		return strings.Replace(start, "%[1]s", e.udp(), 1) + "\r\nVia: SIP/2.0/TCP " + conn.LocalAddr().String() + ";branch=z9hG4bK-" + tag +
			"\r\nFrom: <sip:probe@" + conn.LocalAddr().String() + ">;tag=" + tag + "\r\nTo: <sip:" + e.udp() + ">\r\nCall-ID: " + tag +
			"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" + extra + "\r\n"
	}
	const options = "OPTIONS sip:%[1]s SIP/2.0"

	// Answered, and the connection stays usable.
	conn, r := dial(1)
	send(conn, request(conn, "OPTIONS sip:%[1]s SIP/7.0", "tcp-v7", "Content-Length: 0\r\n"))
	if m := finalOn(t, conn, r); status(m) != 505 || header(m, "Call-ID") != "tcp-v7" || toTag(m) == "" {
		t.Fatalf("SIP/7.0 OPTIONS over TCP answered:\n%s", m)
	}
	send(conn, request(conn, options, "tcp-good-1", "Content-Length: 0\r\n"))
	if m := finalOn(t, conn, r); status(m) != 200 || header(m, "Call-ID") != "tcp-good-1" {
		t.Fatalf("good OPTIONS after the 505:\n%s", m)
	}
	send(conn, strings.Replace(request(conn, options, "tcp-cseq", "Content-Length: 0\r\n"), "CSeq: 1 OPTIONS", "CSeq: abc OPTIONS", 1))
	if m := finalOn(t, conn, r); status(m) != 400 || header(m, "Call-ID") != "tcp-cseq" || !strings.Contains(header(m, "Via"), "branch=z9hG4bK-tcp-cseq") {
		t.Fatalf("unparseable OPTIONS over TCP answered:\n%s", m)
	}
	send(conn, request(conn, options, "tcp-good-2", "Content-Length: 0\r\n"))
	if m := finalOn(t, conn, r); status(m) != 200 || header(m, "Call-ID") != "tcp-good-2" {
		t.Fatalf("good OPTIONS after the 400:\n%s", m)
	}

	// Framing lost: 400 where answerable, then the connection is closed.
	for i, tc := range []struct {
		name, msg string
		answered  bool
	}{
		{"no Content-Length", "", true},
		{"negative Content-Length", "Content-Length: -5\r\n", true},
		{"binary garbage", "\x00\x01\xfe\xffbinary garbage\r\n\r\n", false},
	} {
		c, cr := dial(byte(10 + i))
		msg := tc.msg
		if tc.answered {
			msg = request(c, options, "tcp-lost-"+strconv.Itoa(i), tc.msg)
		}
		send(c, msg)
		if tc.answered {
			if m := readMessage(t, c, cr); status(m) != 400 || header(m, "Call-ID") != "tcp-lost-"+strconv.Itoa(i) {
				t.Fatalf("%s answered:\n%s", tc.name, m)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if rest, err := io.ReadAll(cr); err != nil || len(rest) != 0 {
			t.Fatalf("%s: the connection was not closed after it (read %q, %v)", tc.name, rest, err)
		}
	}

	body := get(t, "http://"+e.app.HTTPAddr+"/metrics")
	for _, reason := range []string{"no_content_length", "bad_content_length", "garbage", "unparseable"} {
		if v := metricValue(body, `earshot_sip_dropped_total{reason="`+reason+`"}`); v != 1 {
			t.Errorf("earshot_sip_dropped_total{reason=%q} = %v, want 1", reason, v)
		}
	}
	if v := metricValue(body, `earshot_sip_responses_sent_total{code="505"}`); v != 1 {
		t.Errorf("505s counted: %v, want 1", v)
	}

	// earshot still serves calls.
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	got := answerNext(t, agent)
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call after the junk: %v", err)
	}
	as := <-got
	expectHears(t, "agent", as, toneCustomer)
	_ = cs.Hangup(ctx(t))
}

// TestTLSFraming: over TLS too, another SIP version gets 505 and the
// connection carries on, and a message without Content-Length gets 400
// and closes it.
func TestTLSFraming(t *testing.T) {
	cfg := testConfig(t)
	certFile, keyFile, roots := testcert.SelfSigned(t, t.TempDir())
	cfg.SIP.Listen = append(cfg.SIP.Listen, config.Listener{Transport: "tls", Address: "127.0.0.1:0",
		CertFile: certFile, KeyFile: keyFile})
	e := start(t, cfg)
	d := &tls.Dialer{NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, 40)}},
		Config: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx(t), "tcp", e.app.SIPAddrs[2])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	request := func(version, tag, extra string) string {
		local := conn.LocalAddr().String()
		return "OPTIONS sip:" + e.app.SIPAddrs[2] + " " + version + "\r\nVia: SIP/2.0/TLS " + local + ";branch=z9hG4bK-" + tag +
			"\r\nFrom: <sip:probe@" + local + ">;tag=" + tag + "\r\nTo: <sip:" + e.app.SIPAddrs[2] + ">\r\nCall-ID: " + tag +
			"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" + extra + "\r\n"
	}
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{request("SIP/7.0", "tls-v7", "Content-Length: 0\r\n"), 505},
		{request("SIP/2.0", "tls-good", "Content-Length: 0\r\n"), 200},
		{request("SIP/2.0", "tls-nolen", ""), 400},
	} {
		if _, err := conn.Write([]byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		if m := finalOn(t, conn, r); status(m) != tc.want {
			t.Fatalf("over TLS, want %d:\n%s", tc.want, m)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("the TLS connection was not closed (read %q, %v)", rest, err)
	}
}
