package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestCheckRequest(t *testing.T) {
	v7 := sipRequest(t, "OPTIONS", "sip:earshot@example.com")
	v7.SipVersion = "SIP/7.0"
	tel := sipRequest(t, "OPTIONS", "tel:+15550100")
	for _, tc := range []struct {
		name string
		req  *sip.Request
		code int
	}{
		{"plain OPTIONS", sipRequest(t, "OPTIONS", "sip:earshot@example.com"), 0},
		{"tel URI", tel, 0},
		{"SIP/7.0", v7, 505},
		{"two Call-IDs", sipRequest(t, "OPTIONS", "sip:earshot@example.com", "Call-ID: a", "Call-ID: b"), 400},
		{"two From", sipRequest(t, "OPTIONS", "sip:earshot@example.com", "From: <sip:a@x>;tag=1", "From: <sip:b@x>;tag=2"), 400},
		{"CSeq method differs", sipRequest(t, "OPTIONS", "sip:earshot@example.com", "CSeq: 1 INVITE"), 400},
		{"mailto URI", sipRequest(t, "OPTIONS", "mailto:someone@example.com"), 416},
		{"Require unknown on REGISTER", sipRequest(t, "REGISTER", "sip:example.com", "Require: nonsense"), 420},
		{"Require known", sipRequest(t, "OPTIONS", "sip:earshot@example.com", "Require: timer"), 0},
		{"CANCEL ignores Require", sipRequest(t, "CANCEL", "sip:earshot@example.com", "Require: nonsense"), 0},
	} {
		code, reason, hdrs := checkRequest(tc.req)
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, reason, tc.code)
		}
		if code == 420 && (len(hdrs) != 1 || hdrs[0].Name() != "Unsupported" || hdrs[0].Value() != "nonsense") {
			t.Errorf("%s: headers %v, want Unsupported: nonsense", tc.name, hdrs)
		}
	}
}
