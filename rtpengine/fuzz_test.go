package rtpengine

import (
	"bytes"
	"errors"
	"testing"

	"github.com/earshot/earshot/rtpengine/webrtc"
	"github.com/pion/sdp/v3"
)

// FuzzOffer drives the offer and answer rewriting with hostile SDP. Beyond
// not panicking, whatever earshot accepts it must turn into SDP that parses,
// keeps the m-line count and rejects every stream but the anchored one; and
// earshot's own offer, mirrored back as the answer, must be accepted.
func FuzzOffer(f *testing.F) {
	f.Add([]byte(crlf(answerOffer)), []byte(crlf(answerOffer)))
	f.Add([]byte(crlf(webrtcOffer)), []byte(crlf(answerOffer)))
	f.Fuzz(func(t *testing.T, offer, answer []byte) {
		desc, _, plan, err := rewriteOffer(offer, testParams)
		if err != nil {
			checkStatus(t, err)
			return
		}
		o := origin{id: 1}
		out := o.stamp(desc)
		checkOutput(t, out, plan)
		if _, _, err := rewriteAnswer(out, plan, testParams); err != nil {
			t.Fatalf("earshot's own offer rejected as answer: %v\n%s", err, out)
		}
		adesc, _, err := rewriteAnswer(answer, plan, testParams)
		if err != nil {
			checkStatus(t, err)
			return
		}
		checkOutput(t, o.stamp(adesc), plan)
	})
}

// webrtcOffer is a browser's offer: ICE, DTLS, rtcp-mux, BUNDLE, and a
// data channel m-line earshot rejects.
const webrtcOffer = `v=0
o=- 1 1 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0 1
a=fingerprint:sha-256 AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 101
c=IN IP4 0.0.0.0
a=mid:0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=setup:actpass
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtpmap:101 telephone-event/8000
a=rtcp-fb:111 transport-cc
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host
a=sendrecv
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=mid:1
`

func checkStatus(t *testing.T, err error) {
	var se *statusError
	if !errors.As(err, &se) || (se.SIPStatus() != 400 && se.SIPStatus() != 488) {
		t.Fatalf("SDP error without a 400/488 status: %v", err)
	}
}

func checkOutput(t *testing.T, out []byte, plan offerPlan) {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(out); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if len(d.MediaDescriptions) != plan.count {
		t.Fatalf("%d m-lines out, %d in", len(d.MediaDescriptions), plan.count)
	}
	for i, md := range d.MediaDescriptions {
		if i != plan.index && md.MediaName.Port.Value != 0 {
			t.Fatalf("m-line %d not rejected:\n%s", i, out)
		}
		for _, a := range md.Attributes {
			if a.Key == "candidate" || a.Key == "rtcp-mux" || a.Key == "rtcp" || a.Key == "crypto" {
				t.Fatalf("a=%s leaked:\n%s", a.Key, out)
			}
		}
	}
}

// FuzzRTPPacket checks that validation never panics and that a rewritten
// packet stays valid, keeps its length and payload and carries the stream's
// SSRC.
func FuzzRTPPacket(f *testing.F) {
	f.Add(rtpPacket(f, 0, 1, 160, 5, []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if !validRTP(pkt) {
			return
		}
		o := newOutStream(0x5555, 100, 1000)
		rates := staticRates
		before := bytes.Clone(pkt)
		o.rewrite(pkt, 1e9, &rates)
		o.rewrite(pkt, 2e9, &rates) // the same packet again: a duplicate
		if !validRTP(pkt) || len(pkt) != len(before) || !bytes.Equal(pkt[12:], before[12:]) {
			t.Fatalf("rewrite broke the packet:\n% x\n% x", before, pkt)
		}
		if h := header(t, pkt); h.SSRC != 0x5555 || h.PayloadType != before[1]&0x7f {
			t.Fatalf("header after rewrite %+v", h)
		}
	})
}

// FuzzRTCPPacket checks that RTCP validation and translation never panic,
// agree on validity and keep the length.
func FuzzRTCPPacket(f *testing.F) {
	f.Add(testSR(f, 1, 2, 3))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		valid := rewriteRTCP(pkt, nil)
		x := &rtcpXlate{
			fwd: rtcpView{ssrc: 9, started: true, tsOffset: 7},
			rev: rtcpView{ssrc: 2, started: true, inSSRC: 3, seqOffset: 4},
		}
		n := len(pkt)
		if got := rewriteRTCP(pkt, x); got != valid {
			t.Fatalf("validate says %v, translate says %v", valid, got)
		}
		if len(pkt) != n {
			t.Fatal("length changed")
		}
	})
}

// FuzzLegAnswer drives a supervisor phone's offer (AnswerOffer) and its
// answer to earshot's offer (TakeAnswer) with hostile SDP, and its
// telephone-events with hostile payloads. Whatever earshot accepts must
// yield a G.711 codec and an answer that parses, with one m-line per
// offered one.
func FuzzLegAnswer(f *testing.F) {
	f.Add([]byte(crlf(answerOffer)), []byte{0x80, 101, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 5, 0x8a, 3, 0x20})
	f.Fuzz(func(t *testing.T, sdpIn, event []byte) {
		if validRTP(event) {
			var d digitState
			d.receive(event, func(k byte) {
				if !bytes.ContainsRune([]byte(eventDigits), rune(k)) {
					t.Fatalf("digit %q", k)
				}
			})
		}
		desc, remote, err := answerLeg(sdpIn, testParams, fuzzWebRTC)
		if err == nil {
			if !remote.media.codec.Valid() {
				t.Fatalf("accepted an offer without G.711: %+v", remote.media)
			}
			o := origin{id: 1}
			var out sdp.SessionDescription
			if err := out.Unmarshal(o.stamp(desc)); err != nil {
				t.Fatalf("earshot's answer does not parse: %v", err)
			}
		} else {
			checkStatus(t, err)
		}
		_, plan := legOffer(testParams)
		adesc, remote, err := rewriteAnswer(sdpIn, plan, testParams)
		switch {
		case err != nil:
			checkStatus(t, err)
		case remote.media.codec.Valid() && remote.media.audioPT != 0 && remote.media.audioPT != 8:
			t.Fatalf("answer to earshot's offer settled payload type %d", remote.media.audioPT)
		case remote.media.codec.Valid():
			// A late offer turns that answer into the offer to the caller.
			narrowFormats(adesc.MediaDescriptions[plan.index], []string{"0"})
			o := origin{id: 1}
			var out sdp.SessionDescription
			if err := out.Unmarshal(o.stamp(adesc)); err != nil {
				t.Fatalf("earshot's late-offer offer does not parse: %v", err)
			}
		}
	})
}

// fuzzWebRTC stands in for a leg's transport set-up: what earshot's SDP
// says of its side of a WebRTC stream.
func fuzzWebRTC(w *remoteWebRTC) (*localWebRTC, error) {
	return &localWebRTC{
		creds: webrtc.Credentials{Ufrag: "abcd", Pwd: "0123456789abcdefghijkl"}, fingerprint: "sha-256 00:11",
		setup: dtlsRole(w.setup), protos: w.protos, mids: w.mids, bundle: w.bundle,
	}, nil
}
