package b2bua

import (
	"bytes"
	"strings"
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
		{"unknown method, CSeq upper-cased by the stack", sipRequest(t, "!odd-Method", "sip:earshot@example.com", "CSeq: 1 !odd-Method"), 501},
		{"unknown method, CSeq INVITE", sipRequest(t, "NEWMETHOD", "sip:earshot@example.com", "CSeq: 1 INVITE"), 501},
		{"INVITE with SDP", sipRequestBody(t, "INVITE", "sip:100@example.com", "v=0\r\n", "Content-Type: application/SDP; charset=x"), 0},
		{"INVITE with multipart", sipRequestBody(t, "INVITE", "sip:100@example.com", "x", "Content-Type: multipart/mixed;boundary=b"), 0},
		{"INVITE with an unknown body", sipRequestBody(t, "INVITE", "sip:100@example.com", "<audio/>", "Content-Type: application/unknownformat"), 415},
		{"UPDATE with a body and no type", sipRequestBody(t, "UPDATE", "sip:100@example.com", "v=0\r\n"), 415},
		{"INFO keeps its own body types", sipRequestBody(t, "INFO", "sip:100@example.com", "Signal=1", "Content-Type: application/dtmf-relay"), 0},
		{"INVITE accepting SDP among others", sipRequest(t, "INVITE", "sip:100@example.com", "Accept: text/plain, application/sdp;level=1"), 0},
		{"INVITE accepting anything", sipRequest(t, "INVITE", "sip:100@example.com", "Accept: */*"), 0},
		{"INVITE accepting no SDP", sipRequest(t, "INVITE", "sip:100@example.com", "Accept: text/nobodyKnowsThis"), 406},
	} {
		code, reason, hdrs := checkRequest(tc.req)
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, reason, tc.code)
		}
		if code == 415 && (len(hdrs) != 1 || hdrs[0].Name() != "Accept" || hdrs[0].Value() != "application/sdp") {
			t.Errorf("%s: headers %v, want Accept: application/sdp", tc.name, hdrs)
		}
		if code == 420 && (len(hdrs) != 1 || hdrs[0].Name() != "Unsupported" || hdrs[0].Value() != "nonsense") {
			t.Errorf("%s: headers %v, want Unsupported: nonsense", tc.name, hdrs)
		}
	}
}

func TestMarkVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OPTIONS sip:a SIP/7.0\r\nVia: x\r\n\r\n", "OPTIONS sip:a SIP/2.0\r\nEarshot-Sip-Version: SIP/7.0\r\nVia: x\r\n\r\n"},
		{"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n", "OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"},
		{"SIP/3.0 200 OK\r\nVia: x\r\n\r\n", "SIP/3.0 200 OK\r\nVia: x\r\n\r\n"},
		{"OPTIONS sip:a SIP/7.0x\r\n\r\n", "OPTIONS sip:a SIP/7.0x\r\n\r\n"},
		{"garbage", "garbage"},
		{"OPTIONS sip:a HTTP/1.1\r\n\r\n", "OPTIONS sip:a HTTP/1.1\r\n\r\n"},
	} {
		if got := string(markVersion([]byte(tc.in))); got != tc.want {
			t.Errorf("markVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzMarkVersion: any datagram is returned unchanged or rewritten to a
// SIP/2.0 request line with the version header, never corrupted further.
func FuzzMarkVersion(f *testing.F) {
	for _, s := range []string{"OPTIONS sip:a SIP/7.0\r\nVia: x\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n", "", "\r\n", "A B SIP/\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := markVersion(data)
		if string(out) == string(data) {
			return
		}
		line, rest, ok := strings.Cut(string(out), "\r\n")
		if !ok || !strings.HasSuffix(line, " SIP/2.0") || !strings.HasPrefix(rest, versionHeader+": SIP/") {
			t.Fatalf("markVersion(%q) = %q", data, out)
		}
	})
}

func TestTightenColons(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OPTIONS sip:x SIP/2.0\r\nCSeq  :   1 OPTIONS\r\nTo\t: <sip:x>\r\nCall-ID: a : b\r\n\r\nv=0 : x",
			"OPTIONS sip:x SIP/2.0\r\nCSeq:   1 OPTIONS\r\nTo: <sip:x>\r\nCall-ID: a : b\r\n\r\nv=0 : x"},
		{"OPTIONS sip:x SIP/2.0\r\nCall-ID: a : b\r\n\r\n", ""},               // a colon in a value stays
		{"OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a>\r\n ;tag=1 : 2\r\n\r\n", ""}, // a folded line stays
		{"OPTIONS sip:x SIP/2.0\r\nX Y : z\r\n\r\n", ""},                      // not a header name
		{"OPTIONS sip:x : y SIP/2.0\r\n\r\n", ""},                             // the request line stays
		{"no header end : x", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := string(tightenColons([]byte(tc.in))); got != want {
			t.Errorf("tightenColons(%q)\n got %q\nwant %q", tc.in, got, want)
		}
	}
}

// FuzzTightenColons: the rewrite only ever removes blanks before a colon.
func FuzzTightenColons(f *testing.F) {
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nCSeq  : 1 OPTIONS\r\n\r\nbody"))
	f.Add([]byte("A\r\n :\r\n\t:\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out := tightenColons(data)
		if !bytes.Equal(data, in) {
			t.Fatal("input modified")
		}
		strip := func(b []byte) []byte {
			return bytes.Map(func(r rune) rune {
				if r == ' ' || r == '\t' {
					return -1
				}
				return r
			}, b)
		}
		if !bytes.Equal(strip(out), strip(in)) || len(out) > len(in) {
			t.Fatalf("%q became %q", in, out)
		}
	})
}
