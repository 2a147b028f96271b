package e2e

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conformanceCases are requests RFC 3261 §8.2 tells a UAS to refuse, each
// with the status it must get. %[1]s is earshot's address, %[2]s the
// sender's, %[3]s the transport, %[4]s a per-case tag.
var conformanceCases = []struct {
	name string
	msg  string
	want int
	// udpOnly: the case means something else over a stream (a body
	// shorter than its Content-Length is the rest still to come).
	udpOnly bool
}{
	{"good OPTIONS", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 200, false},
	{"unknown method", "NEWMETHOD sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 NEWMETHOD\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 501, false},
	{"known method not served", "SUBSCRIBE sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 405, false},
	{"MESSAGE without credentials", "MESSAGE sip:2001@%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:2001@%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", 401, false},
	{"unsupported URI scheme", "OPTIONS mailto:probe@example.com SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 416, false},
	{"unknown Require on REGISTER", "REGISTER sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:1001@%[1]s>;tag=%[4]s\r\nTo: <sip:1001@%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 REGISTER\r\nRequire: nonsense\r\nContact: <sip:1001@%[2]s>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 420, false},
	{"CSeq method mismatch", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	{"two From", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nFrom: <sip:other@%[2]s>;tag=x\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	{"no Call-ID", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	{"no From", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	{"CSeq method in lower case (methods are case-sensitive)", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 options\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	// Valid, if unusual: compact forms, folding, odd case and spacing,
	// escapes, unknown headers, several Vias on one line.
	{"compact forms and a folded header", "OPTIONS sip:%[1]s SIP/2.0\r\nv: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nf: <sip:probe@%[2]s>\r\n ;tag=%[4]s\r\nt:    <sip:%[1]s>\r\ni: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n", 200, false},
	{"header names in odd case", "OPTIONS sip:%[1]s SIP/2.0\r\nvIa: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nfROM: <sip:probe@%[2]s>;tag=%[4]s\r\nTO: <sip:%[1]s>\r\ncall-id: %[4]s\r\ncseq: 1 OPTIONS\r\nmax-forwards: 70\r\ncontent-length: 0\r\n\r\n", 200, false},
	{"blanks before colons", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom  : <sip:probe@%[2]s>;tag=%[4]s\r\nTo\t: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq  :   1     OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 200, false},
	{"escaped Request-URI user", "OPTIONS sip:%31%30%30@%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 200, false},
	{"unknown header with odd value", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nX-Odd: ;;,,\"\"\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 200, false},
	{"two Vias on one line", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-x\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 200, false},
	// Refused by the parser, answerable: 400 (over a stream the framer in
	// front of the stack answers; see TestUnparseableAnsweredOrDropped and
	// TestTCPFraming). Over a stream a Content-Length beyond the body only
	// means the rest is still to come.
	{"Content-Length beyond the body", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 50\r\n\r\nshort", 400, true},
	{"unterminated quoted display name", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: \"probe <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	{"<> around the Request-URI", "OPTIONS <sip:%[1]s> SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
	{"CSeq not a number", "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[3]s %[2]s;branch=z9hG4bK-%[4]s\r\nFrom: <sip:probe@%[2]s>;tag=%[4]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[4]s\r\nCSeq: abc OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", 400, false},
}

// TestVersionNotSupported: a request of another SIP version gets 505 over
// UDP (the read filter keeps it from the parser's silent drop; over TCP
// the stream framer answers it, see TestTCPFraming).
func TestVersionNotSupported(t *testing.T) {
	e := start(t, testConfig(t))
	conn, err := net.Dial("udp", e.udp())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := fmtCase("OPTIONS sip:%[1]s SIP/7.0\r\nVia: SIP/7.0/UDP %[2]s;branch=z9hG4bK-v7\r\nFrom: <sip:probe@%[2]s>;tag=v7\r\nTo: <sip:%[1]s>\r\nCall-ID: v7\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		e.udp(), conn.LocalAddr().String(), "UDP", "v7")
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := readFinal(t, conn, "UDP"); got != 505 {
		t.Fatalf("SIP/7.0 request: %d, want 505", got)
	}
}

// TestConformanceAnswers sends each case over UDP and over TCP to a
// running earshot and checks the status; a good call completes after.
func TestConformanceAnswers(t *testing.T) {
	e := start(t, testConfig(t))
	for _, transport := range []string{"UDP", "TCP"} {
		for i, tc := range conformanceCases {
			if tc.udpOnly && transport != "UDP" {
				continue
			}
			tag := strings.ToLower(transport) + "-" + strconv.Itoa(i)
			// Each case from its own address: the per-source OPTIONS rate
			// limit is not what this test is about.
			var conn net.Conn
			var err error
			ip := net.IPv4(127, 0, 1, byte(i+1))
			if transport == "UDP" {
				conn, err = (&net.Dialer{LocalAddr: &net.UDPAddr{IP: ip}}).Dial("udp", e.udp())
			} else {
				conn, err = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).Dial("tcp", e.tcp())
			}
			if err != nil {
				t.Fatal(err)
			}
			msg := fmtCase(tc.msg, e.udp(), conn.LocalAddr().String(), transport, tag)
			if _, err := conn.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			got := readFinal(t, conn, transport)
			conn.Close()
			if got != tc.want {
				t.Errorf("%s over %s: %d, want %d", tc.name, transport, got, tc.want)
			}
		}
	}
	// earshot still serves calls.
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	got := answerNext(t, agent)
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call after the suite: %v", err)
	}
	as := <-got
	expectHears(t, "agent", as, toneCustomer)
	_ = cs.Hangup(ctx(t))
	waitEnded(t, "agent", as)
}

func fmtCase(tmpl, server, local, transport, tag string) string {
	r := strings.NewReplacer("%[1]s", server, "%[2]s", local, "%[3]s", transport, "%[4]s", tag)
	return r.Replace(tmpl)
}

// readFinal returns the status of the first final response on conn, 0 if
// none came within 3 s.
func readFinal(t *testing.T, conn net.Conn, transport string) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if transport == "UDP" {
		buf := make([]byte, 8192)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return 0
			}
			if code := status(string(buf[:n])); code >= 200 {
				return code
			}
		}
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0
		}
		if code := status(line); code >= 200 {
			return code
		}
	}
}

// TestUnparseableAnsweredOrDropped: what the SIP stack cannot parse is
// counted by kind; a request that still names where an answer goes and
// what it answers (Via, From, To, Call-ID, CSeq) gets 400 Bad Request
// (RFC 3261 §8.2 / RFC 4475), with those headers echoed and a To tag;
// anything else gets no answer. earshot keeps serving.
func TestUnparseableAnsweredOrDropped(t *testing.T) {
	e := start(t, testConfig(t))
	conn, err := net.Dial("udp", e.udp())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	head := func(callID, extra string) string {
		return "OPTIONS sip:" + e.udp() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + callID +
			"\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:x>\r\nCall-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\n" + extra
	}
	for _, msg := range []string{
		"\x00\x01\xfe\xffbinary garbage\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: earshot\r\n\r\n",
		head("negative-length", "Content-Length: -5\r\n\r\n"),
		head("overflowing-length", "Content-Length: 99999999999999999999\r\n\r\n"),
		"OPTIONS sip:" + e.udp() + " SIP/2.0\r\nVia: garbage\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:x>\r\nCall-ID: via\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
	} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]uint64{"garbage": 1, "http": 1, "unparseable": 3}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := e.app.SIP.Stats().Dropped
		if got["garbage"] == want["garbage"] && got["http"] == want["http"] && got["unparseable"] == want["unparseable"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped %v, want %v", got, want)
		}
	}
	// The two requests with a bad Content-Length are answered 400, in
	// order, echoing their headers; nothing else is answered.
	buf := make([]byte, 8192)
	for _, callID := range []string{"negative-length", "overflowing-length"} {
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no 400 for the request %s: %v", callID, err)
		}
		res := string(buf[:n])
		if status(res) != 400 || header(res, "Call-ID") != callID || !strings.Contains(header(res, "Via"), "branch=z9hG4bK-"+callID) ||
			header(res, "CSeq") != "1 OPTIONS" || toTag(res) == "" {
			t.Fatalf("answer to %s:\n%s", callID, res)
		}
	}
	good := fmtCase(conformanceCases[0].msg, e.udp(), local, "UDP", "after-junk")
	if _, err := conn.Write([]byte(good)); err != nil {
		t.Fatal(err)
	}
	if code := readFinal(t, conn, "UDP"); code != 200 {
		t.Fatalf("first answer after the junk: %d, want the good OPTIONS' 200", code)
	}
}
