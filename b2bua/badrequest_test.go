package b2bua

import (
	"net"
	"strings"
	"testing"
)

func TestBadRequest(t *testing.T) {
	const good = "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-2\r\n" +
		"f: <sip:a@x>;tag=1\r\nTo: \"Bob\" <sip:b@x>\r\ni: abc\r\nCSeq: 7 OPTIONS\r\nContent-Length: -5\r\n\r\n"
	res, ok := badRequest("OPTIONS sip:x SIP/2.0\r\n" + good)
	if !ok {
		t.Fatal("not answered")
	}
	r := string(res)
	for _, want := range []string{"SIP/2.0 400 Bad Request\r\n", "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-2\r\n",
		"From: <sip:a@x>;tag=1\r\n", "To: \"Bob\" <sip:b@x>;tag=", "Call-ID: abc\r\n", "CSeq: 7 OPTIONS\r\n", "Content-Length: 0\r\n\r\n"} {
		if !strings.Contains(r, want) {
			t.Errorf("400 lacks %q:\n%s", want, r)
		}
	}
	// A datagram whose Via names another transport is answered all the
	// same (back where it came from); an unserved scheme gets 416.
	if res, ok := badRequest(strings.Replace("OPTIONS sip:x SIP/2.0\r\n"+good, "SIP/2.0/UDP", "SIP/2.0/TCP", 2)); !ok || !strings.HasPrefix(string(res), "SIP/2.0 400 ") {
		t.Errorf("a TCP Via: %v\n%s", ok, res)
	}
	if res, ok := badRequest("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n" + good); !ok || !strings.HasPrefix(string(res), "SIP/2.0 416 Unsupported URI Scheme\r\n") {
		t.Errorf("an unserved scheme: %v\n%s", ok, res)
	}
	if res, ok := badRequest("options sip:x SIP/2.0\r\n" + good); !ok || !strings.HasPrefix(string(res), "SIP/2.0 400 ") {
		t.Errorf("an extension method in lower case: %v\n%s", ok, res)
	}
	if res, ok := badRequest("OPTIONS <sip:x> SIP/2.0\r\n" + good); !ok || !strings.HasPrefix(string(res), "SIP/2.0 400 ") {
		t.Errorf("<> around the Request-URI: %v\n%s", ok, res)
	}
	for name, msg := range map[string]string{
		"a response":   "SIP/2.0 200 OK\r\n" + good,
		"no Via":       "OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: abc\r\nCSeq: 7 OPTIONS\r\n\r\n",
		"no Call-ID":   strings.Replace("OPTIONS sip:x SIP/2.0\r\n"+good, "i: abc\r\n", "", 1),
		"not a method": "<options> sip:x SIP/2.0\r\n" + good,
		"garbage":      "\x00\x01",
	} {
		if res, ok := badRequest(msg); ok {
			t.Errorf("%s answered:\n%s", name, res)
		}
	}
}

func TestRecentDatagrams(t *testing.T) {
	var r recentDatagrams
	a := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5060}
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
	long := strings.Repeat("x", 300)
	r.note(a, local, []byte(long))
	for i := range recentSlots - 1 {
		r.note(local, local, []byte(strings.Repeat("y", i+1)))
	}
	if src, l, ok := r.find(long); !ok || src != a || l != local {
		t.Fatalf("find = %v %v %v", src, l, ok)
	}
	if _, _, ok := r.find(long[:299] + "z"); ok {
		t.Fatal("found a datagram that differs in its last byte")
	}
	if _, _, ok := r.find("x"); ok {
		t.Fatal("found a datagram never noted")
	}
	r.note(local, local, []byte("z")) // the ring wraps: the oldest goes
	if _, _, ok := r.find(long); ok {
		t.Fatal("the oldest datagram outlived the ring")
	}
}

// FuzzBadRequest: any input is answered or not without a panic, and an
// answer is a 400 whose header lines are all single lines.
func FuzzBadRequest(f *testing.F) {
	f.Add("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n")
	f.Add("INVITE x SIP/2.0\r\nv: SIP/2.0/UDP\r\nf: a\r\nt: b\r\ni: c\r\ncseq: d\r\n")
	f.Fuzz(func(t *testing.T, msg string) {
		res, ok := badRequest(msg)
		if !ok {
			return
		}
		r := string(res)
		if !strings.HasPrefix(r, "SIP/2.0 400 Bad Request\r\n") || !strings.HasSuffix(r, "\r\nContent-Length: 0\r\n\r\n") ||
			strings.Count(r, "\r\n\r\n") != 1 || strings.ContainsRune(r, 0) {
			t.Fatalf("answer %q to %q", r, msg)
		}
	})
}
