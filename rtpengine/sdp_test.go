package rtpengine

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// crlf turns a readable multi-line SDP into wire form.
func crlf(s string) string {
	return strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n")
}

var testParams = sdpParams{addr: netip.MustParseAddr("198.51.100.7"), port: 30000}

func TestRewriteOfferGolden(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "linphone with ICE and extra video",
			in: `
v=0
o=alice 3117 2282 IN IP4 192.168.1.20
s=Talk
c=IN IP4 192.168.1.20
t=0 0
a=ice-pwd:31ec21eb38b2ec6d36e8dc7b
a=ice-ufrag:0f4e5d2a
a=sendrecv
m=audio 7078 RTP/AVP 96 0 8 101
b=AS:80
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:101 telephone-event/8000
a=rtpmap:97 speex/16000
a=ptime:20
a=rtcp:7079 IN IP4 192.168.1.20
a=rtcp-mux
a=candidate:1 1 UDP 2130706431 192.168.1.20 7078 typ host
a=candidate:1 2 UDP 2130706430 192.168.1.20 7079 typ host
a=ssrc:1234 cname:alice@host
m=video 9078 RTP/AVP 103
a=rtpmap:103 VP8/90000
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 30000 RTP/AVP 96 0 8 101
b=AS:80
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:101 telephone-event/8000
a=ptime:20
a=sendrecv
m=video 0 RTP/AVP 103
`,
		},
		{
			name: "sipp, no direction",
			in: `
v=0
o=user1 53655765 2353687637 IN IP4 192.0.2.11
s=-
c=IN IP4 192.0.2.11
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 30000 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
`,
		},
		{
			name: "hold with sendonly at session level",
			in: `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
a=sendonly
m=audio 4000 RTP/AVP 8
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 30000 RTP/AVP 8 0
a=rtpmap:0 PCMU/8000
a=sendonly
`,
		},
		{
			name: "RFC 2543 hold with 0.0.0.0 becomes sendonly",
			in: `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 4000 RTP/AVP 0
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 30000 RTP/AVP 0 8
a=rtpmap:8 PCMA/8000
a=sendonly
`,
		},
		{
			name: "SRTP audio first, plain RTP second: the plain one is anchored",
			in: `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 4000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
m=audio 4002 RTP/AVP 0
a=inactive
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 0 RTP/SAVP 0
m=audio 30000 RTP/AVP 0 8
a=rtpmap:8 PCMA/8000
a=inactive
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := origin{id: 42}
			desc, _, _, err := rewriteOffer([]byte(crlf(tt.in)), testParams)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(o.stamp(desc)); got != crlf(tt.want) {
				t.Errorf("got\n%s\nwant\n%s", got, crlf(tt.want))
			}
		})
	}
}

func TestRewriteOfferRemote(t *testing.T) {
	in := crlf(`
v=0
o=alice 3117 2282 IN IP4 192.168.1.20
s=Talk
c=IN IP4 192.168.1.99
t=0 0
m=audio 7078 RTP/AVP 96 0
c=IN IP4 192.168.1.20
a=rtpmap:96 opus/48000/2
a=rtcp:9000 IN IP4 192.168.1.21
m=video 9078 RTP/AVP 103
`)
	_, remote, plan, err := rewriteOffer([]byte(in), testParams)
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddrPort("192.168.1.20:7078"); remote.rtp != want {
		t.Errorf("rtp = %v, want %v (media-level c= wins)", remote.rtp, want)
	}
	if want := netip.MustParseAddrPort("192.168.1.21:9000"); remote.rtcp != want {
		t.Errorf("rtcp = %v, want %v (a=rtcp)", remote.rtcp, want)
	}
	if rates := remote.rateTable(); rates.rate(96) != 48000 || rates.rate(0) != 8000 {
		t.Errorf("rates 96=%d 0=%d", rates.rate(96), rates.rate(0))
	}
	if plan.count != 2 || plan.index != 0 || strings.Join(plan.formats, " ") != "96 0 8" {
		t.Errorf("plan = %+v", plan)
	}
}

func TestRewriteOfferErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   error
		status int
	}{
		{"garbage", "hello world", ErrUnparseableSDP, 400},
		{"empty", "", ErrUnparseableSDP, 400},
		{"srtp only", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 4000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
`, ErrSRTPOnly, 488},
		{"webrtc without ICE credentials", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=fingerprint:sha-256 AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB
a=rtcp-mux
`, ErrBadWebRTC, 488},
		{"webrtc with a truncated fingerprint", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 AA:BB
a=rtcp-mux
`, ErrBadWebRTC, 488},
		{"webrtc with md5 fingerprint", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:md5 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99
a=rtcp-mux
`, ErrBadWebRTC, 488},
		{"webrtc without rtcp-mux", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB
`, ErrBadWebRTC, 488},
		{"webrtc with a bad setup", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB
a=setup:holdconn
a=rtcp-mux
`, ErrBadWebRTC, 488},
		{"no audio", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=video 4000 RTP/AVP 96
`, ErrNoAudio, 488},
		{"audio disabled", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 0 RTP/AVP 0
`, ErrNoAudio, 488},
		{"no c= line", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
t=0 0
m=audio 4000 RTP/AVP 0
`, ErrBadAddress, 488},
		{"hostname in c=", `
v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 media.example.com
t=0 0
m=audio 4000 RTP/AVP 0
`, ErrBadAddress, 488},
		{"other address family", `
v=0
o=- 1 2 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::1
t=0 0
m=audio 4000 RTP/AVP 0
`, ErrBadAddress, 488},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := rewriteOffer([]byte(crlf(tt.in)), testParams)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var se interface{ SIPStatus() int }
			if !errors.As(err, &se) || se.SIPStatus() != tt.status {
				t.Fatalf("err %v has no SIPStatus %d", err, tt.status)
			}
		})
	}
}

const answerOffer = `
v=0
o=alice 1 1 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 7078 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
m=video 9078 RTP/AVP 103
`

func TestRewriteAnswer(t *testing.T) {
	_, _, plan, err := rewriteOffer([]byte(crlf(answerOffer)), testParams)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, want string
		wantErr        error
		wantRTP        string
	}{
		{
			name: "asterisk answer, drops a codec that was never offered",
			in: `
v=0
o=- 1700 1700 IN IP4 203.0.113.5
s=Asterisk
c=IN IP4 203.0.113.5
t=0 0
m=audio 12000 RTP/AVP 8 18 101
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
m=video 0 RTP/AVP 103
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 30000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
m=video 0 RTP/AVP 103
`,
			wantRTP: "203.0.113.5:12000",
		},
		{
			name: "recvonly answer to a hold passes",
			in: `
v=0
o=- 1 2 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 12000 RTP/AVP 0
a=recvonly
m=video 0 RTP/AVP 103
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 30000 RTP/AVP 0
a=recvonly
m=video 0 RTP/AVP 103
`,
			wantRTP: "203.0.113.5:12000",
		},
		{
			name: "audio rejected by the answerer stays rejected",
			in: `
v=0
o=- 1 2 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 0 RTP/AVP 0
m=video 0 RTP/AVP 103
`,
			want: `
v=0
o=earshot 42 1 IN IP4 198.51.100.7
s=earshot
c=IN IP4 198.51.100.7
t=0 0
m=audio 0 RTP/AVP 0
m=video 0 RTP/AVP 103
`,
			wantRTP: "invalid AddrPort",
		},
		{
			name: "m-line count mismatch",
			in: `
v=0
o=- 1 2 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 12000 RTP/AVP 0
`,
			wantErr: ErrAnswerMismatch,
		},
		{
			name: "no common codec",
			in: `
v=0
o=- 1 2 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 12000 RTP/AVP 18
m=video 0 RTP/AVP 103
`,
			wantErr: ErrNoCommonCodec,
		},
		{
			name:    "garbage",
			in:      "v=0\r\nnonsense",
			wantErr: ErrUnparseableSDP,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc, remote, err := rewriteAnswer([]byte(crlf(tt.in)), plan, testParams)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := origin{id: 42}
			if got := string(o.stamp(desc)); got != crlf(tt.want) {
				t.Errorf("got\n%s\nwant\n%s", got, crlf(tt.want))
			}
			if got := remote.rtp.String(); got != tt.wantRTP {
				t.Errorf("remote rtp = %s, want %s", got, tt.wantRTP)
			}
		})
	}
}

func TestOriginVersion(t *testing.T) {
	o := origin{id: 7}
	desc := func(port int) []byte {
		d, _, _, err := rewriteOffer([]byte(crlf(answerOffer)), sdpParams{addr: testParams.addr, port: port})
		if err != nil {
			t.Fatal(err)
		}
		return o.stamp(d)
	}
	versionOf := func(b []byte) string {
		line := strings.SplitN(string(b), "\r\n", 3)[1]
		return strings.Fields(line)[2]
	}
	if v := versionOf(desc(30000)); v != "1" {
		t.Errorf("first version %s, want 1", v)
	}
	if v := versionOf(desc(30000)); v != "1" {
		t.Errorf("unchanged SDP got version %s, want 1 kept", v)
	}
	if v := versionOf(desc(30002)); v != "2" {
		t.Errorf("changed SDP got version %s, want 2", v)
	}
}

func TestParseSDPTolerance(t *testing.T) {
	noFinalCRLF := strings.TrimSuffix(crlf(answerOffer), "\r\n")
	if _, _, _, err := rewriteOffer([]byte(noFinalCRLF), testParams); err != nil {
		t.Errorf("SDP without final CRLF: %v", err)
	}
	t38 := crlf(`
v=0
o=- 1 2 IN IP4 192.0.2.9
s=-
c=IN IP4 192.0.2.9
t=0 0
m=image 4002 udptl t38
a=T38FaxVersion:0
`)
	_, _, _, err := rewriteOffer([]byte(t38), testParams)
	var se interface{ SIPStatus() int }
	if !errors.Is(err, ErrNoAudio) || !errors.As(err, &se) || se.SIPStatus() != 488 {
		t.Errorf("T.38 offer: %v, want ErrNoAudio / 488", err)
	}
}
