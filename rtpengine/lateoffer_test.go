package rtpengine

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func parseOut(t *testing.T, b []byte) *sdp.MediaDescription {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		t.Fatalf("earshot produced unparseable SDP: %v\n%s", err, b)
	}
	return d.MediaDescriptions[0]
}

// phoneSDP is a phone's SDP listing formats (rtpmap for 101 only).
func (p *phone) sdpFormats(formats string) []byte {
	s := fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %s\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:%d\r\n", port(p.rtp), formats, port(p.rtcp))
	return []byte(s)
}

func TestLateOfferRelaysBothWays(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s, err := e.NewSession("late", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// The caller offered nothing: earshot offers to the callee itself.
	offer, err := s.LocalOffer(1)
	if err != nil {
		t.Fatal(err)
	}
	md := parseOut(t, offer)
	if md.MediaName.Port.Value != int(s.pair.Load()[1].port) || !slices.Equal(md.MediaName.Formats, []string{"0", "8", "101"}) {
		t.Fatalf("earshot's own offer: port %d formats %v", md.MediaName.Port.Value, md.MediaName.Formats)
	}
	// The callee picks PCMA; earshot offers the caller exactly that.
	callerOffer, err := s.Answer(1, b.sdpFormats("8 101"))
	if err != nil {
		t.Fatal(err)
	}
	md = parseOut(t, callerOffer)
	if md.MediaName.Port.Value != int(s.pair.Load()[0].port) || !slices.Equal(md.MediaName.Formats, []string{"8", "101"}) {
		t.Fatalf("offer to the caller: port %d formats %v", md.MediaName.Port.Value, md.MediaName.Formats)
	}
	// The caller's answer (from its ACK) completes the exchange.
	last, err := s.Answer(0, a.sdpFormats("8 101"))
	if err != nil || last != nil {
		t.Fatalf("caller's answer returned %q, %v; want nothing to send", last, err)
	}
	if s.armedAt.Load() == 0 {
		t.Fatal("media timeout not armed once both answers are in")
	}

	payload := bytes.Repeat([]byte{0xd5}, 160)
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 8, 1, 160, 0xA1, payload))
	if got, src := recv(t, b.rtp); src != earshotRTP(s, 1) || !bytes.Equal(got[12:], payload) {
		t.Fatalf("callee got %d bytes from %v", len(got), src)
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 8, 1, 160, 0xB1, []byte("back")))
	if got, src := recv(t, a.rtp); src != earshotRTP(s, 0) || string(got[12:]) != "back" {
		t.Fatalf("caller got %q from %v", got[12:], src)
	}
	if snap := s.Snapshot(); snap.Legs[0].Codec != snap.Legs[1].Codec || !snap.Legs[0].Codec.Valid() {
		t.Fatalf("codecs %v / %v", snap.Legs[0].Codec, snap.Legs[1].Codec)
	}
}

func TestLateOfferRejections(t *testing.T) {
	e := testEngine(t, nil, nil)
	b := newPhone(t)
	s, err := e.NewSession("late-bad", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.LocalOffer(2); err == nil {
		t.Fatal("LocalOffer on leg 2 accepted")
	}
	if _, err := s.LocalOffer(1); err != nil {
		t.Fatal(err)
	}
	// An answer that keeps only telephone-event leaves nothing to talk in.
	if _, err := s.Answer(1, b.sdpFormats("101")); err == nil {
		t.Fatal("answer without G.711 accepted")
	}
	// A second answer (another fork) still works and yields the offer.
	if out, err := s.Answer(1, b.sdpFormats("0")); err != nil || !slices.Equal(parseOut(t, out).MediaName.Formats, []string{"0"}) {
		t.Fatalf("second answer: %v %q", err, out)
	}
	// The caller's answer must fit the derived offer.
	a := newPhone(t)
	if _, err := s.Answer(0, a.sdpFormats("8")); err == nil {
		t.Fatal("caller's answer with a codec not offered accepted")
	}
	s.Close()
	if _, err := s.LocalOffer(1); err == nil {
		t.Fatal("LocalOffer on a closed session accepted")
	}
}

func TestReofferTakesTheAnswerFromTheAck(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	before := s.pair.Load()[0].origin.last
	again, err := s.Reoffer(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, before) {
		t.Fatalf("re-offer differs from the SDP last sent:\n%s\n%s", again, before)
	}
	// The caller answers from a new port: relay follows it.
	moved := newPhone(t)
	if out, err := s.Answer(0, moved.sdpFormats("0")); err != nil || out != nil {
		t.Fatalf("answer to the re-offer returned %q, %v; want nothing to send", out, err)
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 1, 160, 0xB1, []byte("to-new-port")))
	if got, _ := recv(t, moved.rtp); string(got[12:]) != "to-new-port" {
		t.Fatalf("caller's new port got %q", got[12:])
	}
	// A normal exchange still works afterwards.
	if _, err := s.Offer(1, b.sdp("")); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Answer(0, moved.sdp("")); err != nil || out == nil {
		t.Fatalf("forwarded exchange after a re-offer: %q, %v", out, err)
	}
	fresh, _ := e.NewSession("fresh", nil)
	defer fresh.Close()
	if _, err := fresh.Reoffer(0); err == nil {
		t.Fatal("re-offer on a leg nothing was sent on accepted")
	}
}

// TestResumeUndoesARelayedHold: the callee held the caller (a sendonly
// offer relayed to leg 0), then left; earshot's own re-offer to the
// caller is its last SDP made sendrecv under a new o= version, and the
// caller's answer completes it with nothing to send on.
func TestResumeUndoesARelayedHold(t *testing.T) {
	e := testEngine(t, nil, nil)
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	held, err := s.Offer(1, b.sdp("sendonly"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(held, []byte("a=sendonly")) {
		t.Fatalf("hold not relayed:\n%s", held)
	}
	if _, err := s.Answer(0, a.sdp("recvonly")); err != nil {
		t.Fatal(err)
	}
	resumed, err := s.Resume(0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(resumed, []byte("a=sendonly")) || bytes.Count(resumed, []byte("a=sendrecv")) != 1 {
		t.Fatalf("resume offer not sendrecv:\n%s", resumed)
	}
	version := func(sdp []byte) string { return strings.Fields(strings.SplitN(string(sdp), "o=", 2)[1])[2] }
	if version(resumed) == version(held) {
		t.Fatalf("resume offer kept o= version %s", version(held))
	}
	if out, err := s.Answer(0, a.sdp("")); err != nil || out != nil {
		t.Fatalf("answer to the resume offer returned %q, %v; want nothing to send", out, err)
	}
	send(t, b.rtp, earshotRTP(s, 1), rtpPacket(t, 0, 1, 160, 0xB1, []byte("after-resume")))
	if got, _ := recv(t, a.rtp); string(got[12:]) != "after-resume" {
		t.Fatalf("caller got %q after the resume", got[12:])
	}
}
