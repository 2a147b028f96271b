package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzSIPRequest feeds arbitrary bytes through sipgo's parser and, when
// they make a request, through every piece of b2bua that reads an untrusted
// request before a call exists. None of them may panic. The seed corpus in
// testdata/fuzz/FuzzSIPRequest holds ordinary and torture-style messages.
func FuzzSIPRequest(f *testing.F) {
	f.Add([]byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK1\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	s := newTestServer(f, Config{Tenants: testTenants(RoundRobin), Registration: testPolicy}, newTestClock())
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		if res, ok := msg.(*sip.Response); ok {
			// What earshot reads from a callee's responses.
			sessionExpires(res)
			refresher(res)
			minSessionExpires(res)
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		s.admit(req)
		checkRequest(req)
		var ps peerSet
		ps.add(req.Source())
		ps.allows(req.Source())
		sessionExpires(req)
		refresher(req)
		parseRAck(req)
		hasTag(req, "Require", "100rel")
		hasTag(req, "Supported", "timer")
		dialogKey(req)
		if req.From() != nil && req.To() != nil && req.CallID() != nil {
			d := uasDialog(req, "local-tag")
			_ = d.key()
		}
		// Once as whatever source the Via names, once from a trunk, so
		// both the authenticated and the trusted paths see the input.
		accepted := func(req *sip.Request) {
			if _, code, _, _ := s.classify(req); code == 0 {
				// What classify lets through becomes a Call, whose
				// setup builds the caller's dialog from the INVITE.
				d := uasDialog(req, "local-tag")
				_ = d.key()
			}
		}
		accepted(req)
		req.SetSource("127.0.1.7:5060")
		accepted(req)
		s.reg.update("acme", "1001", req)
		s.reg.contacts("acme", "1001")
	})
}
