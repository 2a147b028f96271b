package b2bua

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Over a stream (TCP, TLS) the SIP stack's parser drops what it cannot
// parse without a word and then closes the connection, and it cannot be
// told to answer a request of another SIP version. streamFramer sits on
// the read side of such a connection, in front of the stack, and does
// what RFC 3261 asks of a stream UAS:
//
//   - It splits the byte stream into messages (§18.3): a header block up to
//     the empty line, then exactly Content-Length bytes of body. CRLF
//     keep-alives between messages (RFC 5626 §3.5.1) pass through as they
//     are, one run per read, so the stack still answers a double CRLF.
//   - A request of another SIP version is answered 505 Version Not
//     Supported (§8.2.1) on the connection and not handed on.
//   - A framed message the stack's parser refuses is not handed on; a
//     request with the headers a response must echo (Via, From, To,
//     Call-ID, CSeq) is answered 400 Bad Request. The stream is still in
//     step, so the connection stays.
//   - A message whose end cannot be found — no Content-Length (mandatory
//     on streams), a negative, non-numeric, overflowing or repeated one, a
//     message past the stack's size limit, bytes that do not start a SIP
//     message (binary, HTTP) — is answered 400 when it is an answerable
//     request, and the connection is then given up: there is no boundary
//     left to find the next message on.
//
// Everything not handed on is counted (Stats.Dropped, Stats.Responses).
// The framer is driven by the one goroutine that reads the connection;
// its buffer grows once to the largest message seen and is reused, so
// framing costs no allocation; only the parser's check does (see parse).
type streamFramer struct {
	src    io.Reader              // the connection's raw bytes
	answer func(res []byte) error // writes a response on the connection
	stats  *sipStats
	// parse runs the stack's parser on a header block, to learn whether
	// the stack would refuse the message. It is the framer's one cost per
	// message that allocates (the parser builds its headers), paid so
	// that a refused request is answered and the stream kept.
	parse func(head []byte) error
	// admit applies the guard's per-source limits to a framed message's
	// header block (nil: none), as the read filter does to a datagram.
	admit func(head []byte) bool
	max   int // the largest message the stack takes

	buf     []byte // buf[r:w] is read and not yet handed on
	r, w    int
	ready   int    // buf[r:r+ready] is checked and the stack's to read
	alt     []byte // or a checked message rewritten (tightenColons, tightenParams)
	scanned int    // how far past r the end of the header block was sought
	headLen int    // the header block at r, once found
	total   int    // and the whole message's length (0: not found yet)
	err     error  // once set, the stream is given up

	linger   time.Duration // how long a lost framing waits before it ends the stream (framingLinger on connections)
	lingered bool          // and it did
}

// framingLinger is how long a connection whose framing was lost stays
// open for the answers to what came before the error.
const framingLinger = 500 * time.Millisecond

// errStreamFraming ends a stream connection whose framing was lost.
var errStreamFraming = errors.New("b2bua: SIP stream framing lost")

// framerInitial is the framer's first buffer; it grows (once) as far as
// the largest message that arrives.
const framerInitial = 4096

func newStreamFramer(src io.Reader, answer func([]byte) error, stats *sipStats) *streamFramer {
	p := sip.NewParser()
	parse := func(head []byte) error {
		_, _, err := p.ParseHeaders(head, true)
		return err
	}
	return &streamFramer{src: src, answer: answer, stats: stats, parse: parse,
		max: sip.ParseMaxMessageLength, buf: make([]byte, framerInitial)}
}

// Read hands on the next checked bytes: a keep-alive, or (part of) a
// message. It reads from the connection as much as a message needs.
func (f *streamFramer) Read(b []byte) (int, error) {
	for {
		if f.ready > 0 {
			n := copy(b, f.buf[f.r:f.r+f.ready])
			f.r += n
			f.ready -= n
			return n, nil
		}
		if len(f.alt) > 0 {
			n := copy(b, f.alt)
			f.alt = f.alt[n:]
			return n, nil
		}
		if f.err != nil {
			if f.err == errStreamFraming && !f.lingered && f.linger > 0 {
				// The messages handed on before the framing was lost are
				// being answered on other goroutines; the stack closes
				// the connection as soon as this read fails, so give
				// those answers a moment to leave first.
				f.lingered = true
				time.Sleep(f.linger)
			}
			return 0, f.err
		}
		if f.frame() {
			continue
		}
		if err := f.fill(); err != nil {
			f.err = err
		}
	}
}

// fill reads more of the connection into the buffer, first moving what
// is unread to its start, and growing it only when one message fills it.
func (f *streamFramer) fill() error {
	if f.r > 0 {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	if f.w == len(f.buf) {
		// Never past max: what is unread is one incomplete message, and
		// frame refuses one past max before it fills max bytes.
		grown := make([]byte, min(2*len(f.buf), f.max))
		copy(grown, f.buf[:f.w])
		f.buf = grown
	}
	n, err := f.src.Read(f.buf[f.w:])
	f.w += n
	if n > 0 {
		return nil // an error comes again on the next read
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// frame looks at the unread bytes and decides what to do with the next
// message: hand it on (ready), drop it, or give up the stream (err). It
// reports false when it needs more bytes to decide.
func (f *streamFramer) frame() bool {
	data := f.buf[f.r:f.w]
	if len(data) == 0 {
		return false
	}
	if data[0] == '\r' || data[0] == '\n' {
		n := 0
		for n < len(data) && n < 4 && (data[n] == '\r' || data[n] == '\n') {
			n++
		}
		f.ready = n
		return true
	}
	if !isTokenChar(data[0]) {
		// A start line opens with a method (a token) or "SIP/"; a NUL, a
		// TLS record on the TCP port or other binary is not a message.
		return f.giveUp(DropGarbage, nil)
	}
	if httpPrefix(data) {
		return f.giveUp(DropHTTP, nil)
	}
	if f.total == 0 {
		// The header block is framed once; then only the body is awaited.
		from := max(0, f.scanned-3)
		end := bytes.Index(data[from:], []byte("\r\n\r\n"))
		if end < 0 {
			f.scanned = len(data)
			if len(data) >= f.max {
				return f.giveUp(DropTooLarge, nil)
			}
			return false
		}
		head := data[:from+end+4]
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		if sp := bytes.LastIndexByte(line, ' '); sp >= 0 && bytes.HasPrefix(line[sp+1:], []byte("HTTP/")) {
			return f.giveUp(DropHTTP, nil) // an HTTP method no prefix knew
		}
		if len(head) > f.max {
			return f.giveUp(DropTooLarge, nil)
		}
		length, reason := contentLength(head)
		if reason != "" {
			return f.giveUp(reason, head)
		}
		if len(head)+length > f.max {
			return f.giveUp(DropTooLarge, head)
		}
		f.headLen, f.total = len(head), len(head)+length
	}
	if len(data) < f.total {
		return false
	}
	head, total := data[:f.headLen], f.total
	f.scanned, f.headLen, f.total = 0, 0, 0
	if f.admit != nil && !f.admit(head) {
		// Past its source's rate for the method, or from a banned
		// source: dropped unanswered, as a datagram would be (the guard
		// counted it).
		f.r += total
		return true
	}
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	if _, other := otherVersion(line); other {
		f.refuse(head, "505 Version Not Supported", 505, total)
		return true
	}
	msg := data[:total]
	if tight := tightenParams(tightenColons(msg)); len(tight) < len(msg) {
		// Blanks between a header's name and its colon, around parameter
		// separators and folded lines are valid (RFC 3261 §7.3.1, §25.1)
		// and refused or misread by the stack's parser; as over UDP
		// (guard.go), the message goes on without them, in a copy (only
		// its header block shrinks).
		head, msg = tight[:len(head)-(len(msg)-len(tight))], tight
	}
	if err := f.parse(head); err != nil {
		f.refuse(head, "400 Bad Request", 400, total)
		return true
	}
	if len(msg) < total {
		f.r += total
		f.alt = msg
		return true
	}
	f.ready = total
	return true
}

// refuse drops the framed message of n bytes whose header block is head,
// answering it with status when it is an answerable request. A 505
// answers a message the stack would not have dropped but refused (as
// over UDP); a 400, one it would have dropped, so that is counted.
func (f *streamFramer) refuse(head []byte, status string, code, n int) {
	f.r += n
	res, ok := answerFor(string(head), status, "SIP/")
	if code == 400 || !ok {
		f.stats.drop(DropUnparseable)
	}
	if !ok {
		return
	}
	if err := f.answer(res); err != nil {
		f.err = err
		return
	}
	f.stats.response(code)
}

// giveUp ends the stream for reason, first answering 400 if head is the
// header block of an answerable request.
func (f *streamFramer) giveUp(reason string, head []byte) bool {
	f.stats.drop(reason)
	f.err = errStreamFraming
	f.r, f.w = 0, 0
	if head == nil {
		return true
	}
	if res, ok := answerFor(string(head), "400 Bad Request", "SIP/"); ok && f.answer(res) == nil {
		f.stats.response(400)
	}
	return true
}

// httpPrefix reports whether data starts like an HTTP request or
// response. It looks at a few bytes only: it runs on every read of a
// header block still arriving.
func httpPrefix(data []byte) bool {
	for _, p := range [...]string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "CONNECT ", "PATCH ", "HTTP/"} {
		if bytes.HasPrefix(data, []byte(p)) {
			return true
		}
	}
	return false
}

// contentLength returns the body length the header block head gives, or
// the reason it gives none that can be used. It reads the header the way
// the stack's parser does (names trimmed and in any case, folded lines
// joined), so that both find the same body; where the parser would take
// the last of two lengths, the framer takes neither: two lengths are how
// one message is smuggled inside another.
func contentLength(head []byte) (int, string) {
	length, seen := 0, false
	_, rest, _ := bytes.Cut(head, []byte("\r\n")) // past the start line
	for len(rest) > 0 {
		line, tail, _ := bytes.Cut(rest, []byte("\r\n"))
		rest = tail
		if len(line) == 0 || isFold(line[0]) {
			continue // the end, or a folded line (of some other header)
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if !asciiEqualFold(name, "content-length") && !asciiEqualFold(name, "l") {
			continue
		}
		if seen {
			return 0, DropBadLength
		}
		seen = true
		// The value, with the lines folded onto it: one number in all.
		digits := bytes.TrimSpace(value)
		for len(rest) > 0 && isFold(rest[0]) {
			var cont []byte
			cont, rest, _ = bytes.Cut(rest, []byte("\r\n"))
			if cont = bytes.TrimSpace(cont); len(cont) > 0 {
				if len(digits) > 0 {
					return 0, DropBadLength
				}
				digits = cont
			}
		}
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		// Nine digits at most: the stack takes far less, and nothing
		// overflows an int.
		if len(digits) == 0 || len(digits) > 9 {
			return 0, DropBadLength
		}
		for _, c := range digits {
			if c < '0' || c > '9' {
				return 0, DropBadLength
			}
			length = length*10 + int(c-'0')
		}
	}
	if !seen {
		return 0, DropNoLength
	}
	return length, ""
}

// isTokenChar reports whether c may be in a token (RFC 3261 §25.1), as
// a method is.
func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// isFold reports whether a line starting with c continues the previous
// header line (RFC 3261 §7.3.1).
func isFold(c byte) bool { return c == ' ' || c == '\t' }

// asciiEqualFold reports whether b is lower, ignoring ASCII case.
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
