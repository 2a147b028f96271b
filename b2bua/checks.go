package b2bua

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// RFC 3261 §8.2 lists what a UAS checks before it processes a request;
// the SIP stack parses but checks little of it. checkRequest does, in the
// RFC's order, for every request but ACK (which gets no response).

// singleHeaders may appear once in a request (RFC 3261 §7.3.1, §20): two
// From or two Call-ID make the dialog ambiguous.
var singleHeaders = [...]string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// knownMethods405 are the methods of RFC 3261 and its extensions that
// earshot knows and does not serve: 405 with Allow. Any other method is
// unknown: 501 (RFC 3261 §8.2.1, §21.5.2).
var knownMethods405 = map[string]bool{"SUBSCRIBE": true, "NOTIFY": true,
	"MESSAGE": true, "PUBLISH": true}

// checkRequest returns the response a malformed or unsupported request
// gets, or 0 when it may be processed.
func checkRequest(req *sip.Request) (code int, reason string, hdrs []sip.Header) {
	if req.SipVersion != "SIP/2.0" {
		return 505, "Version Not Supported", nil
	}
	for _, name := range singleHeaders {
		if len(req.GetHeaders(name)) > 1 {
			return 400, "Bad Request (" + name + " more than once)", nil
		}
	}
	if cs := req.CSeq(); cs != nil && !strings.EqualFold(string(cs.MethodName), string(req.Method)) {
		return 400, "Bad Request (CSeq method does not match)", nil
	}
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips", "tel":
	default:
		return 416, "Unsupported URI Scheme", nil
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

// onUnknownMethod answers a method no handler serves.
func (s *Server) onUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	if knownMethods405[string(req.Method)] {
		s.respond(tx, req, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
		return
	}
	s.respond(tx, req, 501, "Not Implemented", nil, sip.NewHeader("Allow", allowMethods))
}
