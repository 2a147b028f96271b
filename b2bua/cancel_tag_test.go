package b2bua

import (
	"bytes"
	"testing"
)

func TestTagCancel(t *testing.T) {
	lookup := func(callID, fromTag string) string {
		if callID == "abc@h" && fromTag == "f1" {
			return "earshot1"
		}
		return ""
	}
	const tail = "CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct{ name, in, want string }{
		{"tag added",
			"CANCEL sip:100@x SIP/2.0\r\nFrom: <sip:a@h>;tag=f1\r\nTo: <sip:100@x>\r\nCall-ID: abc@h\r\n" + tail,
			"CANCEL sip:100@x SIP/2.0\r\nFrom: <sip:a@h>;tag=f1\r\nTo: <sip:100@x>;tag=earshot1\r\nCall-ID: abc@h\r\n" + tail},
		{"compact headers",
			"CANCEL sip:100@x SIP/2.0\r\nf: <sip:a@h;tag=no>;tag=f1\r\nt: sip:100@x\r\ni: abc@h\r\n" + tail,
			"CANCEL sip:100@x SIP/2.0\r\nf: <sip:a@h;tag=no>;tag=f1\r\nt: sip:100@x;tag=earshot1\r\ni: abc@h\r\n" + tail},
		{"already tagged",
			"CANCEL sip:100@x SIP/2.0\r\nFrom: <sip:a@h>;tag=f1\r\nTo: <sip:100@x>;tag=other\r\nCall-ID: abc@h\r\n" + tail, ""},
		{"unknown INVITE",
			"CANCEL sip:100@x SIP/2.0\r\nFrom: <sip:a@h>;tag=f2\r\nTo: <sip:100@x>\r\nCall-ID: abc@h\r\n" + tail, ""},
		{"no From tag",
			"CANCEL sip:100@x SIP/2.0\r\nFrom: <sip:a@h;tag=f1>\r\nTo: <sip:100@x>\r\nCall-ID: abc@h\r\n" + tail, ""},
		{"no header end", "CANCEL sip:100@x SIP/2.0\r\nTo: <sip:100@x>\r\n", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := string(tagCancel([]byte(tc.in), lookup)); got != want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, want)
		}
	}
}

// FuzzTagCancel: any datagram comes back unchanged or with exactly
// ";tag=T" inserted, never a panic.
func FuzzTagCancel(f *testing.F) {
	f.Add([]byte("CANCEL sip:1@x SIP/2.0\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:1@x>\r\nCall-ID: c\r\n\r\n"))
	f.Add([]byte("CANCEL x\r\nt: y\r\nf: z;tag=\r\ni: \r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		out := tagCancel(data, func(string, string) string { return "T" })
		if !bytes.Equal(data, in) {
			t.Fatal("input modified")
		}
		if bytes.Equal(out, in) {
			return
		}
		if len(out) != len(in)+len(";tag=T") || !bytes.Contains(out, []byte(";tag=T")) {
			t.Fatalf("output %q from %q", out, in)
		}
	})
}
