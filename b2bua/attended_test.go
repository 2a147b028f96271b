package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestReplacesOf(t *testing.T) {
	for _, tc := range []struct {
		referTo string
		want    replaces
		ok      bool
	}{
		{"<sip:1002@x?Replaces=abc%40h%3Bto-tag%3Dt1%3Bfrom-tag%3Df2>", replaces{"abc@h", "t1", "f2"}, true},
		{"<sip:1002@x?replaces=abc%3Bfrom-tag%3Df2%3Bto-tag%3Dt1&Require=replaces>", replaces{"abc", "t1", "f2"}, true},
		{"<sip:1002@x?Replaces=abc%3Bto-tag%3Dt1>", replaces{}, false},              // no from-tag
		{"<sip:1002@x?Replaces=%3Bto-tag%3Dt1%3Bfrom-tag%3Df2>", replaces{}, false}, // no Call-ID
		{"<sip:1002@x?Replaces=abc%ZZ>", replaces{}, false},                         // bad escape
		{"<sip:1002@x>", replaces{}, false},
	} {
		var uri sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(tc.referTo, &uri, &params); err != nil {
			t.Fatalf("%s: %v", tc.referTo, err)
		}
		got, ok := replacesOf(uri)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: %+v %v, want %+v %v", tc.referTo, got, ok, tc.want, tc.ok)
		}
	}
}
