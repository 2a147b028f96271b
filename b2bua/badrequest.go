package b2bua

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// A request the SIP stack cannot parse (an unbalanced quote, a bad
// Content-Length, a NUL in a header) is dropped by the stack without a
// word, while RFC 3261 wants 400 Bad Request whenever the message can be
// answered at all — it names where the answer goes (a Via) and which
// request it answers (From, To, Call-ID, CSeq). Over UDP earshot does
// that itself: the read filter notes where each datagram came from
// (recentDatagrams), the stack reports the datagram it could not parse
// (demoted), and answerUnparseable finds its source again and answers it
// from the socket it arrived on. Messages without those headers, and
// responses, stay dropped; every one is counted either way. A stream
// (TCP, TLS) has no such hook: there the connection's framer finds such
// a request before the stack sees it and answers it on the connection
// (framer.go).

// recentSlots is how many datagrams recentDatagrams remembers: one per
// listening socket would do (each is read by one goroutine that parses
// what it read before reading more); a few more absorb several sockets.
const recentSlots = 8

// recentMax is the largest datagram recentDatagrams keeps (a copy, to
// find it again exactly); a larger one is not answered.
const recentMax = 4096

// recentDatagrams remembers the sources of the last datagrams handed to
// the parser.
type recentDatagrams struct {
	mu    sync.Mutex
	next  int
	slots [recentSlots]recentDatagram
}

type recentDatagram struct {
	src, local net.Addr
	n          int
	data       [recentMax]byte
}

// note records that data came from src to local.
func (r *recentDatagrams) note(src, local net.Addr, data []byte) {
	if len(data) > recentMax {
		return
	}
	r.mu.Lock()
	s := &r.slots[r.next]
	r.next = (r.next + 1) % recentSlots
	s.src, s.local, s.n = src, local, copy(s.data[:], data)
	r.mu.Unlock()
}

// find returns where data came from, if it is one of the datagrams noted.
func (r *recentDatagrams) find(data string) (src, local net.Addr, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.slots {
		s := &r.slots[i]
		if s.src != nil && s.n == len(data) && string(s.data[:s.n]) == data {
			return s.src, s.local, true
		}
	}
	return nil, nil, false
}

// answerUnparseable answers 400 (or 416) to a request the stack could not parse,
// if it can be answered (see above).
func (s *Server) answerUnparseable(data string) {
	res, ok := badRequest(data)
	if !ok {
		return
	}
	src, local, ok := s.guard.recent.find(data)
	if !ok {
		return
	}
	if pc := s.sip.packetConn(local); pc != nil {
		if _, err := pc.WriteTo(res, src); err == nil {
			code, _ := strconv.Atoi(string(res[len("SIP/2.0 ") : len("SIP/2.0 ")+3]))
			s.stats.response(code)
		}
	}
}

// supportedScheme reports whether uri is a SIP, SIPS or tel URI.
func supportedScheme(uri string) bool {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || !isScheme(scheme) {
		return true // not a URI at all ("<sip:...>"): a 400 says more
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel":
		return true
	}
	return false
}

// isScheme reports whether s is a URI scheme (RFC 3986 §3.1).
func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// badRequest builds the 400 (or 416) answering the unparseable request
// msg, which came in a datagram, from the header lines it must echo, or
// false if msg is not a request or lacks one of them. Whatever transport
// its Via names, the answer goes back the way the request came (RFC 4475
// §3.1.2 messages name TCP and arrive as datagrams).
func badRequest(msg string) ([]byte, bool) {
	return answerFor(msg, "400 Bad Request", "SIP/2.0/")
}

// answerFor builds the response with status (code and reason) to the
// request msg that earshot answers without parsing it, or false if msg is
// not a request or lacks a header the response must echo. Only Vias that
// start with via (any case) are echoed; the answer goes back the way the
// request came, whatever the Via names.
func answerFor(msg, status, via string) ([]byte, bool) {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	method, _, ok := strings.Cut(lines[0], " ")
	if !ok || method == "" || strings.HasPrefix(lines[0], "SIP/") {
		return nil, false // a response, or not SIP
	}
	for i := range len(method) {
		if !isTokenChar(method[i]) { // a method is a token (RFC 3261 §25.1), any case
			return nil, false
		}
	}
	var vias []string
	var from, to, callID, cseq string
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if strings.ContainsAny(value, "\x00\r\n") {
			continue // never echo what cannot be a header value
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			if strings.HasPrefix(strings.ToUpper(value), via) {
				vias = append(vias, value)
			}
		case "from", "f":
			from = value
		case "to", "t":
			to = value
		case "call-id", "i":
			callID = value
		case "cseq":
			cseq = value
		}
	}
	if len(vias) == 0 || from == "" || to == "" || callID == "" || cseq == "" {
		return nil, false
	}
	if !strings.Contains(strings.ToLower(to), ";tag=") {
		to += ";tag=" + sip.GenerateTagN(16)
	}
	if uri, _, _ := strings.Cut(strings.TrimPrefix(lines[0], method+" "), " "); status == "400 Bad Request" && !supportedScheme(uri) {
		// A scheme the stack cannot parse (RFC 4475 §3.3.3: soap.beep)
		// is one earshot does not serve either.
		status = "416 Unsupported URI Scheme"
	}
	var b bytes.Buffer
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, v := range vias {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + from + "\r\nTo: " + to + "\r\nCall-ID: " + callID + "\r\nCSeq: " + cseq +
		"\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes(), true
}
