package rtpengine

import (
	"errors"
	"strings"
	"testing"
)

func TestOfferFormatsCleaned(t *testing.T) {
	in := "v=0\r\no=x 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0 0 200 96 97 101\r\n" +
		"a=rtpmap:96 opus/48000/2\r\na=rtpmap:96 PCMU/8000\r\n" + // conflicting: dropped
		"a=rtpmap:97 telephone-event/8000\r\na=fmtp:97\r\n" + // empty fmtp: dropped, 97 kept
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
	desc, remote, _, err := rewriteOffer([]byte(in), testParams)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(remote.formats, " "); got != "0 97 101" {
		t.Fatalf("formats %q, want the duplicate, out-of-range and conflicting ones gone", got)
	}
	out, _ := desc.Marshal()
	for _, bad := range []string{"opus", "a=rtpmap:96", "a=fmtp:97\r\n", " 200"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("offer still carries %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(string(out), "a=fmtp:101 0-16") {
		t.Errorf("the good fmtp was dropped:\n%s", out)
	}
}

func TestSDPBounds(t *testing.T) {
	head := "v=0\r\no=x 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
	for name, body := range map[string]string{
		"over 16 KiB":   head + "m=audio 4000 RTP/AVP 0\r\n" + strings.Repeat("a=x-pad:"+strings.Repeat("p", 500)+"\r\n", 40),
		"long line":     head + "m=audio 4000 RTP/AVP 0\r\na=x-long:" + strings.Repeat("l", 2000) + "\r\n",
		"17 m-lines":    head + strings.Repeat("m=audio 4000 RTP/AVP 0\r\n", 17),
		"65 formats":    head + "m=audio 4000 RTP/AVP" + strings.Repeat(" 0", 65) + "\r\n",
		"only bad ones": head + "m=audio 4000 RTP/AVP 128 300\r\n",
	} {
		_, _, _, err := rewriteOffer([]byte(body), testParams)
		if !errors.Is(err, ErrSDPTooLarge) && !errors.Is(err, ErrNoCommonCodec) {
			t.Errorf("%s: %v, want a 488 error", name, err)
			continue
		}
		if se, ok := err.(*statusError); !ok || se.SIPStatus() != 488 {
			t.Errorf("%s: %v, want SIP 488", name, err)
		}
	}
}
