package b2bua

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzStreamFramer feeds arbitrary bytes, in reads of an arbitrary size,
// through the stream framer and what it hands on through the stack's
// stream parser as the TCP transport reads it. The framer must not panic;
// what it hands on comes from the input in order; each read it hands on
// is a keep-alive or exactly one message the stack parses whole; and its
// own answers are complete 400s or 505s.
func FuzzStreamFramer(f *testing.F) {
	good := options("", "good", "Content-Length: 0\r\n")
	for _, seed := range []string{
		framerInvite,
		"\r\n\r\n" + good + "\r\n" + framerInvite,
		options("OPTIONS sip:127.0.0.1 SIP/7.0", "v7", "Content-Length: 0\r\n") + good,
		strings.Replace(good, "CSeq: 1", "CSeq: abc", 1) + good,
		options("", "nolen", ""),
		options("", "neg", "Content-Length: -5\r\n"),
		options("", "ovf", "l: 99999999999999999999\r\n"),
		options("", "twice", "Content-Length: 0\r\nContent-Length: 4\r\n"),
		"\x00\x01\xfe\xffbinary garbage\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: earshot\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r\r\nCSeq: 1 INVITE\r\nContent-Length: 2\r\n\r\nhi",
		"OPTIONS sip:x SIP/2.0\r\nf: <sip:a@b>\r\n ;tag=1\r\nl: 0\r\n\r\n",
		"OPTIONS sip:x SIP/2.0\r\nFrom  : <sip:a@b>;tag=1\r\nContent-Length\t: 2\r\n\r\nhi",
	} {
		f.Add([]byte(seed), byte(0))
		f.Add([]byte(seed), byte(6))
		f.Add([]byte(seed), byte(255))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk byte) {
		size := int(chunk) + 1
		if chunk == 255 {
			size = len(data) + 1
		}
		var answers [][]byte
		fr := newStreamFramer(&chunked{data, size}, func(res []byte) error {
			answers = append(answers, bytes.Clone(res))
			return nil
		}, newSIPStats())
		par := sip.NewParser().NewSIPStream()
		buf := make([]byte, 1<<16)
		rest := data
		for {
			n, err := fr.Read(buf)
			if n > 0 {
				rd := buf[:n]
				// A message with blanks before a colon is handed on
				// without them (tightenColons), so not as it came.
				if at := bytes.Index(rest, rd); at >= 0 {
					rest = rest[at+n:]
				} else if !bytes.Contains(rd, []byte(":")) {
					t.Fatalf("handed on %q, not next in the input", rd)
				}
				if n <= 4 && len(bytes.Trim(rd, "\r\n")) == 0 {
					continue // a keep-alive, which the stack does not parse
				}
				msgs := 0
				if err := par.ParseSIPStream(rd, func(sip.Message) { msgs++ }); err != nil || msgs != 1 {
					t.Fatalf("the stack took %q as %d messages: %v", rd, msgs, err)
				}
			}
			if err != nil {
				break
			}
		}
		for _, a := range answers {
			if !(bytes.HasPrefix(a, []byte("SIP/2.0 400 Bad Request\r\n")) || bytes.HasPrefix(a, []byte("SIP/2.0 505 Version Not Supported\r\n")) ||
				bytes.HasPrefix(a, []byte("SIP/2.0 416 Unsupported URI Scheme\r\n"))) ||
				!bytes.HasSuffix(a, []byte("\r\nContent-Length: 0\r\n\r\n")) {
				t.Fatalf("answer %q", a)
			}
		}
	})
}
