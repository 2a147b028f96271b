package b2bua

import (
	"bytes"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// RFC 3261 §8.2 lists what a UAS checks before it processes a request;
// the SIP stack parses but checks little of it. checkRequest does, in the
// RFC's order, for every request but ACK (which gets no response).

// singleHeaders may appear once in a request (RFC 3261 §7.3.1, §20): two
// From or two Call-ID make the dialog ambiguous.
var singleHeaders = [...]string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// mandatoryHeaders must be in every request (RFC 3261 §8.1.1): without
// them a request cannot be matched to a dialog or answered properly. Via
// is checked by the stack, which cannot route a response without it.
var mandatoryHeaders = [...]string{"From", "To", "Call-ID", "CSeq"}

// knownMethods405 are the methods of RFC 3261 and its extensions that
// earshot knows and does not serve: 405 with Allow. Any other method is
// unknown: 501 (RFC 3261 §8.2.1, §21.5.2).
var knownMethods405 = map[string]bool{"SUBSCRIBE": true, "NOTIFY": true,
	"PUBLISH": true}

// servedMethods are the methods earshot answers (allowMethods).
var servedMethods = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range strings.Split(allowMethods, ",") {
		m[strings.TrimSpace(name)] = true
	}
	return m
}()

// checkRequest returns the response a malformed or unsupported request
// gets, or 0 when it may be processed.
func checkRequest(req *sip.Request) (code int, reason string, hdrs []sip.Header) {
	if req.SipVersion != "SIP/2.0" || req.GetHeader(versionHeader) != nil {
		return 505, "Version Not Supported", nil
	}
	for _, name := range singleHeaders {
		if len(req.GetHeaders(name)) > 1 {
			return 400, "Bad Request (" + name + " more than once)", nil
		}
	}
	for _, name := range mandatoryHeaders {
		if req.GetHeader(name) == nil {
			return 400, "Bad Request (no " + name + ")", nil
		}
	}
	// Method inspection comes first (RFC 3261 §8.2.1): a method earshot
	// does not know gets 501 whatever its CSeq says (RFC 4475 §3.1.2.18
	// prefers it to 400). The stack upper-cases an unknown method of the
	// request line but not the CSeq's, so comparing them would call an
	// unknown method's CSeq a mismatch.
	if !servedMethods[string(req.Method)] && !knownMethods405[string(req.Method)] {
		return 501, "Not Implemented", []sip.Header{sip.NewHeader("Allow", allowMethods)}
	}
	// Methods are case-sensitive (RFC 3261 §7.1): "options" is not OPTIONS.
	if cs := req.CSeq(); cs != nil && strings.TrimSpace(string(cs.MethodName)) != string(req.Method) {
		return 400, "Bad Request (CSeq method does not match)", nil
	}
	if !supportedScheme(req.Recipient.Scheme + ":") {
		return 416, "Unsupported URI Scheme", nil
	}
	if req.Method == sip.INVITE || req.Method == sip.UPDATE {
		if code, reason, hdrs := checkContent(req); code != 0 {
			return code, reason, hdrs
		}
	}
	if req.Method != sip.CANCEL {
		// A CANCEL's Require is the INVITE's (RFC 3262 §3: not checked).
		for _, h := range req.GetHeaders("Require") {
			for _, tag := range strings.Split(h.Value(), ",") {
				if tag = strings.TrimSpace(tag); tag != "" && !supportedExtensions[tag] {
					return 420, "Bad Extension", []sip.Header{sip.NewHeader("Unsupported", tag)}
				}
			}
		}
	}
	return 0, "", nil
}

// checkContent applies RFC 3261 §8.2.3 to a request that carries or asks
// for a session description: a body of a type earshot cannot read gets
// 415 with Accept (RFC 4475 §3.3.6), and an INVITE whose Accept leaves out
// SDP — the answer earshot would send — gets 406 (§3.3.15). A multipart
// body (a carrier's SDP beside ISUP) is left to the SDP reader.
func checkContent(req *sip.Request) (code int, reason string, hdrs []sip.Header) {
	if len(req.Body()) > 0 {
		ct := ""
		if h := req.ContentType(); h != nil {
			ct, _, _ = strings.Cut(strings.ToLower(h.Value()), ";")
			ct = strings.TrimSpace(ct)
		}
		if ct != "application/sdp" && !strings.HasPrefix(ct, "multipart/") {
			return 415, "Unsupported Media Type", []sip.Header{sip.NewHeader("Accept", "application/sdp")}
		}
	}
	if req.Method != sip.INVITE {
		return 0, "", nil
	}
	accepts := req.GetHeaders("Accept")
	if len(accepts) == 0 {
		return 0, "", nil
	}
	for _, h := range accepts {
		for _, r := range strings.Split(h.Value(), ",") {
			r, _, _ = strings.Cut(strings.ToLower(r), ";")
			switch strings.TrimSpace(r) {
			case "application/sdp", "application/*", "*/*", "":
				return 0, "", nil
			}
		}
	}
	return 406, "Not Acceptable", nil
}

// onUnknownMethod answers a method no handler serves.
func (s *Server) onUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	if knownMethods405[string(req.Method)] {
		s.respond(tx, req, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
		return
	}
	s.respond(tx, req, 501, "Not Implemented", nil, sip.NewHeader("Allow", allowMethods))
}

// versionHeader names the SIP version of a UDP request the SIP stack's
// parser would drop unanswered because it is not SIP/2.0: the read filter
// (markVersion) rewrites the request line to SIP/2.0 and keeps the
// original version in this header, so that checkRequest answers 505
// (RFC 3261 §8.2.1 and §21.5.16) instead of silence. A sender that sets it
// itself only gets 505.
const versionHeader = "Earshot-Sip-Version"

// markVersion rewrites a datagram whose request line names another SIP
// version (see versionHeader); anything else is returned as it is.
func markVersion(data []byte) []byte {
	end := bytes.Index(data, []byte("\r\n"))
	if end < 0 {
		return data
	}
	line := data[:end]
	at, ok := otherVersion(line)
	if !ok {
		return data
	}
	ver := line[at:]
	out := make([]byte, 0, len(data)+len(versionHeader)+len(ver)+16)
	out = append(out, line[:at]...)
	out = append(out, "SIP/2.0\r\n"+versionHeader+": "...)
	out = append(out, ver...)
	return append(out, data[end:]...)
}

// otherVersion reports whether line, a message's first line (without its
// CRLF), is a request line naming a SIP version other than SIP/2.0, and
// where that version starts in it.
func otherVersion(line []byte) (at int, ok bool) {
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 || bytes.HasPrefix(line, []byte("SIP/")) { // no request line, or a response
		return 0, false
	}
	ver := line[sp+1:]
	if !bytes.HasPrefix(ver, []byte("SIP/")) || bytes.Equal(ver, []byte("SIP/2.0")) || len(ver) > 16 {
		return 0, false
	}
	for _, c := range ver[4:] {
		if (c < '0' || c > '9') && c != '.' {
			return 0, false
		}
	}
	return sp + 1, true
}

// tightenColons rewrites the header lines of a datagram whose header name
// is followed by whitespace before its colon ("CSeq  : 1 OPTIONS"), which
// RFC 3261 allows (HCOLON, §25.1) and the SIP stack's parser refuses, into
// the usual "CSeq: 1 OPTIONS"; anything else is returned as it is. Only
// the header section is looked at, and only a datagram that has such a
// line is copied.
func tightenColons(data []byte) []byte {
	head, _, found := bytes.Cut(data, []byte("\r\n\r\n"))
	if !found || (!bytes.Contains(head, []byte(" :")) && !bytes.Contains(head, []byte("\t:"))) {
		return data
	}
	var out []byte
	start := 0
	for start < len(head) {
		end := bytes.Index(head[start:], []byte("\r\n"))
		if end < 0 {
			end = len(head) - start
		}
		line := head[start : start+end]
		colon := bytes.IndexByte(line, ':')
		name := line
		if colon > 0 {
			name = line[:colon]
		}
		trimmed := bytes.TrimRight(name, " \t")
		if start > 0 && colon > 0 && len(trimmed) < len(name) && len(trimmed) > 0 &&
			!bytes.ContainsAny(trimmed, " \t") && line[0] != ' ' && line[0] != '\t' {
			if out == nil {
				out = append(make([]byte, 0, len(data)), data[:start]...)
			}
			out = append(out, trimmed...)
			out = append(out, line[colon:]...)
		} else if out != nil {
			out = append(out, line...)
		}
		start += end
		if start < len(head) {
			if out != nil {
				out = append(out, "\r\n"...)
			}
			start += 2
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[len(head):]...)
}
