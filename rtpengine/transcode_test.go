package rtpengine

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// A PCMA-only caller and a PCMU-only callee: the forwarded offer adds
// PCMU, the callee picks it, the caller's answer names PCMA, and the
// session transcodes on the mix path; both hear each other, on
// continuous streams.
func TestTranscodePCMAToPCMU(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMA, 700)
	agent := newTonePhone(t, mixer.CodecPCMU, 950)
	s, err := e.NewSession("transcode", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	fwd, err := s.Offer(0, cust.sdp())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fwd, []byte(" RTP/AVP 8 0 101\r\n")) || !bytes.Contains(fwd, []byte("a=rtpmap:0 PCMU/8000")) {
		t.Fatalf("forwarded offer lacks the other law:\n%s", fwd)
	}
	answer, err := s.Answer(1, agent.sdp())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(answer, []byte(" RTP/AVP 8 101\r\n")) || !bytes.Contains(answer, []byte("a=rtpmap:8 PCMA/8000")) ||
		bytes.Contains(answer, []byte("PCMU")) {
		t.Fatalf("the caller's answer does not name its own law:\n%s", answer)
	}
	if !s.Mixed() {
		t.Fatal("a transcoded session is not mixed")
	}
	snap := s.Snapshot()
	if snap.Legs[0].Codec != mixer.CodecPCMA || snap.Legs[1].Codec != mixer.CodecPCMU {
		t.Fatalf("leg codecs %v / %v", snap.Legs[0].Codec, snap.Legs[1].Codec)
	}
	cust.start(earshotRTP(s, 0))
	agent.start(earshotRTP(s, 1))
	f := measure(cust, agent)
	cust.heard("caller hears the callee", 950, f[0], win)
	agent.heard("callee hears the caller", 700, f[1], win)
	cust.listenFor(500 * time.Millisecond)
	agent.listenFor(500 * time.Millisecond)
	checkStream(t, "caller", cust)
	checkStream(t, "callee", agent)
}

// An answerer that takes the offerer's own law needs no transcoding: the
// session relays.
func TestSameLawRelays(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMA, 700)
	agent := newTonePhone(t, mixer.CodecPCMA, 950)
	s, err := e.NewSession("same", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, cust.sdp()); err != nil {
		t.Fatal(err)
	}
	answer, err := s.Answer(1, agent.sdp())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(answer, []byte(" RTP/AVP 8 101\r\n")) || s.Mixed() {
		t.Fatalf("mixed %v, answer:\n%s", s.Mixed(), answer)
	}
}

// Only a call whose two legs carry G.711 is mixable (can take a
// supervisor); an Opus call relayed as it is is not.
func TestMixable(t *testing.T) {
	e := testEngine(t, nil, nil)
	opus := func(port int) []byte {
		return []byte("v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=audio " + strconv.Itoa(port) + " RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n")
	}
	s, err := e.NewSession("opus", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, opus(40000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, opus(40002)); err != nil {
		t.Fatal(err)
	}
	if s.Mixable() {
		t.Fatal("an Opus call reports mixable")
	}
	g := toneCall(t, e, newTonePhone(t, mixer.CodecPCMU, 700), newTonePhone(t, mixer.CodecPCMU, 950))
	if !g.Mixable() {
		t.Fatal("a G.711 call reports not mixable")
	}
}
