package b2bua

import (
	"bytes"
	"os"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestTightenParams(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n\r\n", ""}, // nothing to do: same slice
		{"OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@b> ; tag = 1\r\n\r\nbody ; = /", "OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n\r\nbody ; = /"},
		{"OPTIONS sip:x SIP/2.0\r\nVia: SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=z\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z\r\n\r\n"},
		{"OPTIONS sip:x SIP/2.0\r\nf: \"a ; b = c\" <sip:a@b;x = y> ;tag= 1\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nf: \"a ; b = c\" <sip:a@b;x = y>;tag=1\r\n\r\n"},
		{"OPTIONS sip:x SIP/2.0\r\nf: \"a \\\" ; b\" <sip:a@b> ; tag=1\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nf: \"a \\\" ; b\" <sip:a@b>;tag=1\r\n\r\n"},
		{"OPTIONS sip:x SIP/2.0\r\nSubject: a ; b = c\r\n continued\r\n\r\n", "OPTIONS sip:x SIP/2.0\r\nSubject: a ; b = c continued\r\n\r\n"},
		{"OPTIONS sip:x SIP/2.0\r\nX: a ; b\r\n\r\n", ""}, // other headers keep their spacing
	} {
		got := tightenParams([]byte(tc.in))
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if string(got) != want {
			t.Errorf("%q:\n got %q\nwant %q", tc.in, got, want)
		}
	}
}

// TestTightenParamsTortuousInvite: RFC 4475 §3.1.1.1 parses, with its From
// tag, its three Vias and its Contact parameters read as the RFC says.
func TestTightenParamsTortuousInvite(t *testing.T) {
	data, err := os.ReadFile("../e2e/testdata/rfc4475/wsinv.dat")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sip.ParseMessage(tightenParams(tightenColons(data)))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	if tag, _ := req.From().Params.Get("tag"); tag != "98asjd8" {
		t.Errorf("From tag %q", tag)
	}
	if tag, _ := req.To().Params.Get("tag"); tag != "1918181833n" {
		t.Errorf("To tag %q", tag)
	}
	vias := req.GetHeaders("Via")
	want := []string{"SIP/2.0/UDP 192.0.2.2;branch=390skdjuw", "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8", "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239"}
	if len(vias) != len(want) {
		t.Fatalf("%d Vias: %v", len(vias), vias)
	}
	for i, v := range vias {
		if v.Value() != want[i] {
			t.Errorf("Via %d: %q, want %q", i, v.Value(), want[i])
		}
	}
	if q, _ := req.Contact().Params.Get("q"); q != "0.33" {
		t.Errorf("Contact q %q in %v", q, req.Contact())
	}
	if len(req.Body()) != 150 {
		t.Errorf("body %d bytes, want 150", len(req.Body()))
	}
}

// FuzzTightenParams: the rewrite never touches the input, keeps the body
// and the start line, and only ever removes whitespace and line breaks.
func FuzzTightenParams(f *testing.F) {
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@b> ; tag = 1\r\n\r\nbody"))
	f.Add([]byte("A\r\nv: SIP / 2.0\r\n /UDP h\r\n\r\n"))
	f.Add([]byte("A\r\nf: \"\\\r\n ;\" ; x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out := tightenParams(data)
		if !bytes.Equal(data, in) {
			t.Fatal("input modified")
		}
		strip := func(b []byte) []byte {
			return bytes.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, b)
		}
		if !bytes.Equal(strip(out), strip(in)) || len(out) > len(in) {
			t.Fatalf("%q became %q", in, out)
		}
		if head, body, ok := bytes.Cut(in, []byte("\r\n\r\n")); ok {
			if !bytes.HasSuffix(out, body) {
				t.Fatalf("body changed: %q became %q", in, out)
			}
			if i := bytes.Index(head, []byte("\r\n")); i >= 0 && !bytes.HasPrefix(out, head[:i+2]) {
				t.Fatalf("start line changed: %q became %q", in, out)
			}
		}
	})
}

// FuzzLoose: the one-pass test says what a search for each pattern says.
func FuzzLoose(f *testing.F) {
	for _, s := range []string{"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z\r\n", "a ;b", "a; b", "a =b", "a= b",
		"a /b", "a/ b", "a ,b", "a \r\nb", "a\r\n b", "a\r\n\tb", "\t", " ", "x \r", "\n ", "\r ", " \n"} {
		f.Add([]byte(s))
	}
	patterns := []string{"\r\n ", "\r\n\t", "\t", " ;", "; ", " =", "= ", " /", "/ ", " ,", " \r\n"}
	f.Fuzz(func(t *testing.T, head []byte) {
		want := false
		for _, p := range patterns {
			want = want || bytes.Contains(head, []byte(p))
		}
		if got := loose(head); got != want {
			t.Fatalf("loose(%q) = %v, a search for each pattern says %v", head, got, want)
		}
	})
}

// BenchmarkLoose: the test every datagram's header section goes through,
// on a typical INVITE that needs no tightening.
func BenchmarkLoose(b *testing.B) {
	head := []byte("INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-0\r\n" +
		"From: sipp <sip:sipp@127.0.0.1:5061>;tag=1\r\n" +
		"To: service <sip:service@127.0.0.1:5060>\r\n" +
		"Call-ID: 1-123@127.0.0.1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: sip:sipp@127.0.0.1:5061\r\nMax-Forwards: 70\r\n" +
		"Subject: Performance Test\r\nContent-Type: application/sdp\r\nContent-Length: 129")
	b.ReportAllocs()
	for b.Loop() {
		if loose(head) {
			b.Fatal("loose")
		}
	}
}
