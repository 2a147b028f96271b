package b2bua

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const framerSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"

// framerInvite is an ordinary INVITE with an SDP offer, as a phone sends it over TCP.
var framerInvite = "INVITE sip:100@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bK-inv1;rport\r\n" +
	"Max-Forwards: 70\r\nFrom: \"Customer\" <sip:555@127.0.0.2>;tag=abc\r\nTo: <sip:100@127.0.0.1>\r\n" +
	"Call-ID: call-1@127.0.0.2\r\nCSeq: 1 INVITE\r\nContact: <sip:555@127.0.0.2:5060;transport=tcp>\r\n" +
	"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nContent-Type: application/sdp\r\n" +
	"Content-Length: " + strconv.Itoa(len(framerSDP)) + "\r\n\r\n" + framerSDP

// options is a request with the five headers an answer echoes; start
// replaces its start line, extra goes before the empty line.
func options(start, callID, extra string) string {
	if start == "" {
		start = "OPTIONS sip:127.0.0.1 SIP/2.0"
	}
	return start + "\r\nVia: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bK-" + callID +
		"\r\nFrom: <sip:p@127.0.0.2>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: " + callID +
		"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" + extra + "\r\n"
}

// chunked reads its data n bytes at a time, then io.EOF.
type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}

type framed struct {
	reads   []string // what each Read handed on
	answers []string
	err     error
	stats   *sipStats
}

func (f framed) out() string { return strings.Join(f.reads, "") }

// runFramer feeds in to a framer chunk bytes at a time and reads it as
// the stack does until the framer ends.
func runFramer(in string, chunk int) framed {
	var r framed
	r.stats = newSIPStats()
	fr := newStreamFramer(&chunked{[]byte(in), chunk}, func(res []byte) error {
		r.answers = append(r.answers, string(res))
		return nil
	}, r.stats)
	buf := make([]byte, 1<<16)
	for {
		n, err := fr.Read(buf)
		if n > 0 {
			r.reads = append(r.reads, string(buf[:n]))
		}
		if err != nil {
			r.err = err
			return r
		}
	}
}

func TestFramerSplitsTheStream(t *testing.T) {
	good := options("", "good", "Content-Length: 0\r\n")
	for _, chunk := range []int{1, 2, 3, 7, 100, 1 << 16} {
		in := "\r\n\r\n" + framerInvite + good + "\r\n" + framerInvite
		r := runFramer(in, chunk)
		if r.out() != in || !errors.Is(r.err, io.EOF) || len(r.answers) != 0 {
			t.Fatalf("chunk %d: handed on %q, err %v, answers %q", chunk, r.out(), r.err, r.answers)
		}
		// Messages and keep-alives are handed on one per read (the
		// stack answers a double CRLF only when it reads it alone).
		if chunk >= 4 && (r.reads[0] != "\r\n\r\n" || r.reads[1] != framerInvite || r.reads[2] != good || r.reads[3] != "\r\n") {
			t.Fatalf("chunk %d: reads %q", chunk, r.reads)
		}
	}
	// A message that arrives in part: handed on once whole.
	r := runFramer(framerInvite[:len(framerInvite)-1], 1<<16)
	if len(r.reads) != 0 || !errors.Is(r.err, io.EOF) {
		t.Fatalf("a partial message was handed on: %q %v", r.reads, r.err)
	}
}

func TestFramerAnswersAndKeepsTheConnection(t *testing.T) {
	good := options("", "good", "Content-Length: 0\r\n")
	for _, tc := range []struct {
		name, msg, status, reason string
	}{
		{"other version", options("OPTIONS sip:127.0.0.1 SIP/7.0", "v7", "Content-Length: 0\r\n"), "SIP/2.0 505 Version Not Supported", ""},
		{"CSeq not a number", strings.Replace(options("", "cseq", "Content-Length: 0\r\n"), "CSeq: 1", "CSeq: abc", 1), "SIP/2.0 400 Bad Request", DropUnparseable},
		{"<> around the Request-URI", options("OPTIONS <sip:127.0.0.1> SIP/2.0", "uri", "Content-Length: 2\r\n") + "hi", "SIP/2.0 400 Bad Request", DropUnparseable},
		{"unanswerable: no Call-ID", "OPTIONS <sip:x> SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK-1\r\nContent-Length: 0\r\n\r\n", "", DropUnparseable},
	} {
		for _, chunk := range []int{1, 1 << 16} {
			r := runFramer(tc.msg+good, chunk)
			if r.out() != good || !errors.Is(r.err, io.EOF) {
				t.Fatalf("%s, chunk %d: handed on %q, err %v", tc.name, chunk, r.out(), r.err)
			}
			if tc.status == "" {
				if len(r.answers) != 0 {
					t.Fatalf("%s answered: %q", tc.name, r.answers)
				}
			} else if len(r.answers) != 1 || !strings.HasPrefix(r.answers[0], tc.status+"\r\n") ||
				!strings.Contains(r.answers[0], "branch=z9hG4bK-") || !strings.Contains(r.answers[0], "To: <sip:127.0.0.1>;tag=") {
				t.Fatalf("%s: answers %q", tc.name, r.answers)
			}
			if tc.reason != "" && r.stats.dropped[tc.reason] != 1 {
				t.Fatalf("%s: dropped %v", tc.name, r.stats.dropped)
			}
		}
	}
}

func TestFramerGivesUpWhatCannotBeFramed(t *testing.T) {
	good := options("", "good", "Content-Length: 0\r\n")
	for _, tc := range []struct {
		name, msg, reason string
		answered          bool
	}{
		{"no Content-Length", options("", "nolen", ""), DropNoLength, true},
		{"negative Content-Length", options("", "neg", "Content-Length: -5\r\n"), DropBadLength, true},
		{"Content-Length not a number", options("", "nan", "l: 1x\r\n"), DropBadLength, true},
		{"overflowing Content-Length", options("", "ovf", "Content-Length: 99999999999999999999\r\n"), DropBadLength, true},
		{"empty Content-Length", options("", "empty", "Content-Length:\r\n"), DropBadLength, true},
		{"Content-Length twice", options("", "twice", "Content-Length: 0\r\nContent-Length: 4\r\n"), DropBadLength, true},
		{"body past the limit", options("", "big", "Content-Length: 70000\r\n"), DropTooLarge, true},
		{"header block past the limit", options("", "hdr", "X-Long: "+strings.Repeat("a", 70000)+"\r\n"), DropTooLarge, false},
		{"endless header block", "OPTIONS sip:x SIP/2.0\r\nX: " + strings.Repeat("a", 70000), DropTooLarge, false},
		{"NUL before a start line", "\x00\x01\xfe\xffbinary garbage\r\n\r\n", DropGarbage, false},
		{"a TLS handshake on the TCP port", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", DropGarbage, false},
		{"blank before a start line", " OPTIONS sip:x SIP/2.0\r\n\r\n", DropGarbage, false},
		{"HTTP", "GET / HTTP/1.1\r\nHost: earshot\r\n\r\n", DropHTTP, false},
		{"HTTP with another method", "PROPFIND / HTTP/1.1\r\nHost: earshot\r\n\r\n", DropHTTP, false},
	} {
		for _, chunk := range []int{1, 1 << 16} {
			if chunk == 1 && len(tc.msg) > 10000 {
				chunk = 997
			}
			r := runFramer(good+tc.msg+good, chunk)
			if r.out() != good || !errors.Is(r.err, errStreamFraming) {
				t.Fatalf("%s, chunk %d: handed on %q, err %v", tc.name, chunk, r.out(), r.err)
			}
			if r.stats.dropped[tc.reason] != 1 || len(r.stats.dropped) != 1 {
				t.Fatalf("%s: dropped %v", tc.name, r.stats.dropped)
			}
			if tc.answered != (len(r.answers) == 1) || tc.answered && !strings.HasPrefix(r.answers[0], "SIP/2.0 400 Bad Request\r\n") {
				t.Fatalf("%s: answers %q", tc.name, r.answers)
			}
		}
	}
}

// TestFramerTightensColons: blanks before a colon, valid SIP the stack's
// parser refuses, are taken out as over UDP, and the message handed on.
func TestFramerTightensColons(t *testing.T) {
	in := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK-1\r\nFrom  : <sip:a@b>;tag=1\r\nTo\t: <sip:c@d>\r\n" +
		"Call-ID: c\r\nCSeq  :   1     OPTIONS\r\nContent-Length : 2\r\n\r\nhi"
	want := strings.NewReplacer("From  :", "From:", "To\t:", "To:", "CSeq  :", "CSeq:", "Content-Length :", "Content-Length:").Replace(in)
	good := options("", "good", "Content-Length: 0\r\n")
	for _, chunk := range []int{1, 1 << 16} {
		r := runFramer(in+good, chunk)
		if r.out() != want+good || len(r.answers) != 0 || !errors.Is(r.err, io.EOF) {
			t.Fatalf("chunk %d: handed on %q, answers %q, err %v", chunk, r.reads, r.answers, r.err)
		}
	}
}

// TestFramerMessagesParse: what the framer hands on, the stack's stream
// parser takes as whole messages.
func TestFramerMessagesParse(t *testing.T) {
	in := framerInvite + options("", "a", "Content-Length: 0\r\n") + "\r\n" + framerInvite
	r := runFramer(in, 5)
	var msgs int
	par := sip.NewParser().NewSIPStream()
	for _, rd := range r.reads {
		if strings.Trim(rd, "\r\n") == "" {
			continue
		}
		if err := par.ParseSIPStream([]byte(rd), func(sip.Message) { msgs++ }); err != nil {
			t.Fatalf("stack refused %q: %v", rd, err)
		}
	}
	if msgs != 3 {
		t.Fatalf("%d messages, want 3", msgs)
	}
}

// loop reads the same message forever.
type loop struct {
	msg []byte
	off int
}

func (l *loop) Read(b []byte) (int, error) {
	n := copy(b, l.msg[l.off:])
	l.off = (l.off + n) % len(l.msg)
	return n, nil
}

// BenchmarkStreamFramer frames an INVITE with its SDP body per op: with
// the stack's parser as the check (as served), and the framing alone.
func BenchmarkStreamFramer(b *testing.B) {
	for _, tc := range []struct {
		name  string
		check bool
	}{{"checked", true}, {"framing", false}} {
		b.Run(tc.name, func(b *testing.B) {
			fr := newStreamFramer(&loop{msg: []byte(framerInvite)}, func([]byte) error { return nil }, newSIPStats())
			if !tc.check {
				fr.parse = func([]byte) error { return nil }
			}
			buf := make([]byte, 1<<16)
			b.ReportAllocs()
			b.SetBytes(int64(len(framerInvite)))
			for b.Loop() {
				n, err := fr.Read(buf)
				if err != nil || n != len(framerInvite) {
					b.Fatalf("read %d %v", n, err)
				}
			}
		})
	}
}

// TestFramingDoesNotAllocate: past its first message, framing a message
// allocates nothing (the parser's check aside).
func TestFramingDoesNotAllocate(t *testing.T) {
	fr := newStreamFramer(&loop{msg: []byte(framerInvite)}, func([]byte) error { return nil }, newSIPStats())
	fr.parse = func([]byte) error { return nil }
	buf := make([]byte, 1<<16)
	if a := testing.AllocsPerRun(100, func() {
		if n, err := fr.Read(buf); err != nil || n != len(framerInvite) {
			t.Fatalf("read %d %v", n, err)
		}
	}); a != 0 {
		t.Fatalf("%v allocs per message", a)
	}
}

// TestGuardConnFramesAndSerialisesWrites: on a real TCP connection the
// framer's answers and the stack's writes never interleave, and a
// framing error ends the connection after its 400.
func TestGuardConnFramesAndSerialisesWrites(t *testing.T) {
	g := newGuard(Limits{TCPConnections: 2, TCPHeaderTimeout: 5 * time.Second, TCPIdleTimeout: 5 * time.Second, OptionsRate: 10000}, time.Now,
		func(netip.Addr) bool { return false }, slog.New(slog.DiscardHandler), newSIPStats())
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := guardListener{raw, g, true}
	defer ln.Close()
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	// The stack's side: a reader that hands on what it reads, and a
	// writer sending its own messages meanwhile.
	const n = 200
	stackMsg := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-s\r\nContent-Length: 0\r\n\r\n"
	got := make(chan string, 1)
	wrote := make(chan struct{})
	go func() {
		var all []byte
		buf := make([]byte, 1<<16)
		for {
			k, err := server.Read(buf)
			all = append(all, buf[:k]...)
			if err != nil {
				got <- string(all)
				<-wrote // then close, as the stack does on a read error
				server.Close()
				return
			}
		}
	}()
	go func() {
		defer close(wrote)
		for range n {
			if _, err := server.Write([]byte(stackMsg)); err != nil {
				return
			}
		}
	}()
	v7 := options("OPTIONS sip:127.0.0.1 SIP/7.0", "v7", "Content-Length: 0\r\n")
	good := options("", "good", "Content-Length: 0\r\n")
	go func() {
		for range n {
			_, _ = client.Write([]byte(v7))
		}
		_, _ = client.Write([]byte(good + options("", "neg", "Content-Length: -1\r\n")))
	}()
	<-wrote

	// What the client reads: n of the stack's messages and n 505s in any
	// order, each whole, then the 400 and the end of the connection.
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	in, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var stack, v505, bad int
	for rest := string(in); rest != ""; {
		msg, tail, ok := strings.Cut(rest, "\r\n\r\n")
		if !ok {
			t.Fatalf("a message cut short: %q", rest)
		}
		rest = tail
		switch {
		case msg+"\r\n\r\n" == stackMsg:
			stack++
		case strings.HasPrefix(msg, "SIP/2.0 505 Version Not Supported\r\n") && strings.HasSuffix(msg, "Content-Length: 0"):
			v505++
		case strings.HasPrefix(msg, "SIP/2.0 400 Bad Request\r\n") && strings.Contains(msg, "Call-ID: neg\r\n"):
			bad++
		default:
			t.Fatalf("interleaved or unknown message: %q", msg)
		}
	}
	if stack != n || v505 != n || bad != 1 {
		t.Fatalf("read %d of the stack's, %d 505s, %d 400s", stack, v505, bad)
	}
	if s := <-got; s != good {
		t.Fatalf("the stack got %q, want only the good OPTIONS", s)
	}
	if g.stats.responses["505"] != n || g.stats.dropped[DropBadLength] != 1 {
		t.Fatalf("responses %v, dropped %v", g.stats.responses, g.stats.dropped)
	}
}

func TestContentLength(t *testing.T) {
	for _, tc := range []struct {
		head   string
		length int
		reason string
	}{
		{"Content-Length: 12\r\n\r\n", 12, ""},
		{"l:0\r\n\r\n", 0, ""},
		{"CONTENT-LENGTH  :  7 \r\n\r\n", 7, ""},
		{"\nContent-Length: 3\r\n\r\n", 3, ""}, // the parser trims the name
		{"Content-Length:\r\n  42\r\n\r\n", 42, ""},
		{"Content-Length: 000000000000005\r\n\r\n", 5, ""},
		{"Content-Length: 4\r\nX: a\r\n Content-Length: 9\r\n\r\n", 4, ""}, // folded into X
		{"Content-Length: 4\r\n 2\r\n\r\n", 0, DropBadLength},
		{"Content-Length: +4\r\n\r\n", 0, DropBadLength},
		{"Content-Length: 4 4\r\n\r\n", 0, DropBadLength},
		{"Content-Length: 1234567890\r\n\r\n", 0, DropBadLength},
		{"l: 1\r\nContent-Length: 1\r\n\r\n", 0, DropBadLength},
		{"Content-Type: application/sdp\r\n\r\n", 0, DropNoLength},
		{"X-Content-Length: 1\r\n\r\n", 0, DropNoLength},
	} {
		n, reason := contentLength([]byte("INVITE sip:x SIP/2.0\r\n" + tc.head))
		if n != tc.length || reason != tc.reason {
			t.Errorf("%q: %d %q, want %d %q", tc.head, n, reason, tc.length, tc.reason)
		}
	}
}

// TestFramerTakesExtensionMethods: a method is any token, lower case too;
// such a request is the stack's to answer (501), not garbage.
func TestFramerTakesExtensionMethods(t *testing.T) {
	in := strings.Replace(options("foo sip:127.0.0.1 SIP/2.0", "ext", "Content-Length: 0\r\n"), "CSeq: 1 OPTIONS", "CSeq: 1 foo", 1)
	r := runFramer(in, 1<<16)
	if r.out() != in || !errors.Is(r.err, io.EOF) || len(r.stats.dropped) != 0 {
		t.Fatalf("handed on %q, err %v, dropped %v", r.out(), r.err, r.stats.dropped)
	}
}
