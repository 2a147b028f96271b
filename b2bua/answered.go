package b2bua

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A server transaction that has sent its final response over UDP stays for
// a while to absorb its request's retransmissions (RFC 3261 §17.2, RFC
// 6026): a non-INVITE request gets the same final response again, an
// INVITE answered 2xx is dropped (earshot retransmits the 2xx itself
// until the ACK). sipgo's transactions keep for that the parsed request
// and response, their timers and channels: about 17–21 KB for each call
// of the last linger, hundreds of megabytes at thousands of calls a
// second, and every collection's mark scans it all
// (docs/performance.md, "Finished transactions as bytes").
//
// answered keeps instead what such a transaction needs to do its work:
// the key it is matched by, where its answer went, and the answer as it
// was sent — bytes the collector never scans. sipgo's own server
// transactions end at their final response (SetTransactionTimers), and
// the guard's read filter, which sees every datagram before it is parsed,
// answers a retransmission from here (guard.readFilter); the UDP socket
// sipgo writes to records each final response as it goes
// (answeringConn).
type answered struct {
	kept  *lingering[keptAnswer]
	stats *sipStats
}

// keptAnswer is what a finished server transaction needs.
type keptAnswer struct {
	wire []byte         // the final response as sent; nil: an INVITE answered 2xx
	conn net.PacketConn // the socket it left from
	to   netip.AddrPort // where it went: a retransmission comes from there
	// stateless: sent without a transaction of the SIP stack (a 503
	// while behind, Server.refuseUnparsed), so its ACK is absorbed here.
	stateless bool
}

// maxAnswered bounds the table: past it (a flood of requests, each
// answered) new answers are not kept, and a retransmission of one is
// taken as a new request, as after the linger.
const maxAnswered = 1 << 19

// Retransmissions answered.answer handles (Stats.Retransmissions).
const (
	RetransAnswered = "answered" // a request's final response sent again
	RetransAbsorbed = "absorbed" // an INVITE answered 2xx, dropped
	RetransACKed    = "acked"    // the ACK of a stateless 503, dropped
)

func newAnswered(linger time.Duration, now func() time.Time, stats *sipStats) *answered {
	return &answered{kept: newLingering[keptAnswer](linger, now, maxAnswered), stats: stats}
}

// keyBuf is room for a transaction key on the stack: a method, a space and
// a branch of the usual length.
const keyBuf = 96

// sent records a datagram earshot sent on conn to to, when it is a final
// response. Requests and provisional responses return at once. An INVITE
// answered 3xx–6xx is kept too, although sipgo keeps its transaction
// until the ACK: sipgo hands each request to a goroutine of its own
// before it matches it to a transaction, so under load a retransmission
// read before the ACK can reach the stack after the ACK ended the
// transaction, as a new INVITE — and, the 503 of an overload being the
// usual such answer, become a call its caller has given up on (again).
func (a *answered) sent(conn net.PacketConn, b []byte, to net.Addr) {
	a.record(conn, b, to, false)
}

// record is sent, for a response sent with a transaction of the SIP stack
// or, stateless, without one.
func (a *answered) record(conn net.PacketConn, b []byte, to net.Addr, stateless bool) {
	if !bytes.HasPrefix(b, sipVersionSP) {
		return
	}
	var kb [keyBuf]byte
	key, status, ok := transactionKey(kb[:0], b)
	if !ok || status < 200 {
		return
	}
	var wire []byte
	if status >= 300 || !bytes.HasPrefix(key, inviteSP) {
		wire = bytes.Clone(b)
	}
	if dst := addrPort(to); dst.IsValid() {
		a.kept.put(string(key), keptAnswer{wire: wire, conn: conn, to: dst, stateless: stateless})
	}
}

// answer handles data from from when it is the retransmission of a
// request answered within the linger: it sends the answer again, or drops
// a retransmitted INVITE answered 2xx, and reports true. Anything else
// (a response, an ACK, a request not answered, or from elsewhere) is
// false: for the SIP stack.
func (a *answered) answer(data []byte, from net.Addr) bool {
	if bytes.HasPrefix(data, sipVersionSP) {
		return false
	}
	var kb [keyBuf]byte
	ack := bytes.HasPrefix(data, ackSP)
	key, _, ok := transactionKeyAs(kb[:0], data, ack)
	if !ok {
		return false
	}
	e, found := a.kept.get(key)
	if !found || e.to != addrPort(from) {
		return false
	}
	if ack {
		// The ACK of a 3xx–6xx is in its INVITE's transaction: the
		// stack's, which waits for it, or none (a stateless 503).
		if !e.stateless {
			return false
		}
		a.stats.retransmission(RetransACKed)
		return true
	}
	if e.wire == nil {
		a.stats.retransmission(RetransAbsorbed)
		return true
	}
	// An error here is the socket closing; the request's next
	// retransmission finds the same answer.
	_, _ = e.conn.WriteTo(e.wire, from)
	a.stats.retransmission(RetransAnswered)
	return true
}

// again handles an initial INVITE that the SIP stack took for a new
// transaction although it is the retransmission of one answered within
// the linger, from the same address (see sent): it sends the answer kept
// again, or for a 2xx nothing, ends the stack's new transaction without
// a word, and reports true. Anything else is false: a new request.
func (a *answered) again(req *sip.Request, tx sip.ServerTransaction) bool {
	via := req.Via()
	if via == nil || !strings.EqualFold(req.Transport(), "udp") {
		return false
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, "z9hG4bK") {
		return false
	}
	var kb [keyBuf]byte
	key := append(append(kb[:0], inviteSP...), branch...)
	e, found := a.kept.get(key)
	if !found {
		return false
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil || netip.AddrPortFrom(src.Addr().Unmap(), src.Port()) != e.to {
		return false
	}
	tx.Terminate()
	if e.wire == nil {
		a.stats.retransmission(RetransAbsorbed)
		return true
	}
	_, _ = e.conn.WriteTo(e.wire, net.UDPAddrFromAddrPort(e.to))
	a.stats.retransmission(RetransAnswered)
	return true
}

// addrPort is a UDP address as a comparable value.
func addrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// answeringConn is a UDP SIP socket that records what is written to it in
// answered.
type answeringConn struct {
	net.PacketConn
	answers *answered
}

// WriteTo records b before it sends it: once sent, its peer may answer
// at once, and the retransmission must find the record. One that could
// not be sent is a lost datagram to the retransmission.
func (c answeringConn) WriteTo(b []byte, to net.Addr) (int, error) {
	c.answers.sent(c.PacketConn, b, to)
	return c.PacketConn.WriteTo(b, to)
}

var (
	sipVersionSP = []byte("SIP/2.0 ")
	inviteSP     = []byte("INVITE ")
	ackSP        = []byte("ACK ")
	magicCookie  = []byte("z9hG4bK")
)

// transactionKey appends to dst the key a SIP message's transaction is
// matched by (RFC 3261 §17.2.3): the method, a space and the branch of the
// top Via. A request's method is its request line's, a response's its
// CSeq's; status is a response's code, 0 for a request. ok is false for
// an ACK (it has no answer), for a branch without RFC 3261's magic cookie
// (RFC 2543 matching needs more than the branch), and for anything this
// scan cannot read for certain — a folded top Via, a quoted string in it
// — which the SIP stack then handles as it would without the table.
func transactionKey(dst, msg []byte) (key []byte, status int, ok bool) {
	return transactionKeyAs(dst, msg, false)
}

// transactionKeyAs is transactionKey, or with ack the key of the INVITE
// an ACK (for a 3xx–6xx, sent in the INVITE's transaction) belongs to:
// "INVITE" and the ACK's branch; anything but an ACK is then false.
func transactionKeyAs(dst, msg []byte, ack bool) (key []byte, status int, ok bool) {
	line, rest, found := cutLine(msg)
	if !found {
		return dst, 0, false
	}
	var method []byte
	if bytes.HasPrefix(line, sipVersionSP) {
		c := line[len(sipVersionSP):]
		if len(c) < 3 || !isDigit(c[0]) || !isDigit(c[1]) || !isDigit(c[2]) || len(c) > 3 && c[3] != ' ' {
			return dst, 0, false
		}
		status = int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	} else {
		// Method SP Request-URI SP SIP/2.0
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || !isMethod(line[:sp]) || bytes.Equal(line[:sp], []byte("ACK")) != ack ||
			!bytes.HasSuffix(line, []byte(" SIP/2.0")) || len(line) <= sp+len(" SIP/2.0")+1 {
			return dst, 0, false
		}
		method = line[:sp]
		if ack {
			method = inviteSP[:len(inviteSP)-1]
		}
	}
	var branch []byte
	viaSeen := false
	for {
		line, rest, found = cutLine(rest)
		if !found || len(line) == 0 {
			break // the end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if viaSeen && branch == nil {
				return dst, 0, false // the top Via folded before its branch
			}
			continue
		}
		name, value, colon := bytes.Cut(line, []byte(":"))
		if !colon {
			return dst, 0, false
		}
		name = bytes.TrimRight(name, " \t")
		switch {
		case !viaSeen && (bytes.EqualFold(name, []byte("via")) || bytes.EqualFold(name, []byte("v"))):
			viaSeen = true
			if branch, ok = viaBranch(value); !ok {
				return dst, 0, false
			}
		case status != 0 && method == nil && bytes.EqualFold(name, []byte("cseq")):
			v := bytes.Trim(value, " \t")
			sp := bytes.IndexAny(v, " \t")
			if sp <= 0 || !isMethod(bytes.TrimLeft(v[sp:], " \t")) {
				return dst, 0, false
			}
			method = bytes.TrimLeft(v[sp:], " \t")
		}
	}
	if !viaSeen || branch == nil || method == nil {
		return dst, 0, false
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	return append(dst, branch...), status, true
}

// viaBranch returns the branch of the first Via of a Via header's value;
// ok false when it has none with the magic cookie, or holds a quote.
func viaBranch(value []byte) ([]byte, bool) {
	if i := bytes.IndexByte(value, ','); i >= 0 {
		value = value[:i]
	}
	if bytes.IndexByte(value, '"') >= 0 {
		return nil, false
	}
	sentBy, params, _ := bytes.Cut(value, []byte(";"))
	// SIP/2.0/UDP host: a Via the stack can read (it ignores another).
	proto, host, _ := bytes.Cut(bytes.Trim(sentBy, " \t"), []byte(" "))
	if len(proto) < len("SIP/2.0/x") || !bytes.EqualFold(proto[:len("SIP/2.0/")], []byte("SIP/2.0/")) ||
		len(bytes.Trim(host, " \t")) == 0 {
		return nil, false
	}
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		k, v, _ := bytes.Cut(p, []byte("="))
		// Case-sensitive, as the stack's transactions read it.
		if !bytes.Equal(bytes.Trim(k, " \t"), []byte("branch")) {
			continue
		}
		v = bytes.Trim(v, " \t")
		if !bytes.HasPrefix(v, magicCookie) || len(v) == len(magicCookie) || !isToken(v) {
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// cutLine splits msg at its first line end; found is false when there is
// none, or it is a bare LF (the stack reads those otherwise).
func cutLine(msg []byte) (line, rest []byte, found bool) {
	i := bytes.IndexByte(msg, '\n')
	if i < 1 || msg[i-1] != '\r' {
		return nil, nil, false
	}
	return msg[:i-1], msg[i+1:], true
}

// isMethod reports whether b looks like a SIP method: upper-case letters
// (every method registered is; a token method is the stack's to refuse).
func isMethod(b []byte) bool {
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return len(b) > 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isToken reports whether b is an RFC 3261 token (§25.1).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isDigit(c):
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
