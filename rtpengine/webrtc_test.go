package rtpengine

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/rtpengine/webrtc"
	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"
)

// webrtcCall sets up a call from browser b (leg 0) to the plain RTP
// phone agent (leg 1) through the API b2bua uses: the browser's offer in,
// the plain offer out; the agent's answer in, the WebRTC answer out.
func webrtcCall(t *testing.T, e *Engine, b *browser, agent *tonePhone, offer []byte) (*Session, []byte) {
	t.Helper()
	s, err := e.NewSession("webrtc-"+t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	plain, err := s.Offer(0, offer)
	if err != nil {
		t.Fatalf("offer from the browser: %v", err)
	}
	checkPlain(t, plain)
	answer, err := s.Answer(1, agent.sdp())
	if err != nil {
		t.Fatal(err)
	}
	return s, answer
}

// checkPlain asserts that SDP earshot sends to a plain phone says nothing
// of WebRTC.
func checkPlain(t *testing.T, b []byte) {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	md := d.MediaDescriptions[0]
	if got := strings.Join(md.MediaName.Protos, "/"); got != "RTP/AVP" {
		t.Errorf("offer to the plain phone has profile %s, want RTP/AVP\n%s", got, b)
	}
	for _, k := range []string{"ice-ufrag", "ice-pwd", "fingerprint", "setup", "candidate", "rtcp-mux", "mid", "ice-lite"} {
		if bytes.Contains(b, []byte("a="+k)) {
			t.Errorf("offer to the plain phone carries a=%s\n%s", k, b)
		}
	}
}

// TestWebRTCBrowserToPhone: a browser (pion) calls a plain RTP phone
// through earshot. ICE and DTLS complete, and each hears the other's tone
// with continuous sequence numbers and timestamps.
func TestWebRTCBrowserToPhone(t *testing.T) {
	for _, codec := range []mixer.Codec{mixer.CodecPCMU, mixer.CodecPCMA} {
		t.Run(codec.String(), func(t *testing.T) {
			e := testEngine(t, nil, nil)
			b := newBrowser(t, codec, 440)
			agent := newTonePhone(t, codec, 1000)
			s, answer := webrtcCall(t, e, b, agent, b.offer())
			checkWebRTCAnswer(t, e, answer, int(s.pair.Load()[0].port))
			b.answer(answer)
			b.waitConnected()
			b.start()
			agent.start(earshotRTP(s, 1))

			from := agent.listenFor(600 * time.Millisecond)
			agent.heard("agent hears the browser", 440, from+1600, 3200)
			agent.absent("agent does not hear itself", 1000, from+1600, 3200)
			bfrom := b.listenFor(600 * time.Millisecond)
			if db := b.power(1000, bfrom+1600, 3200); db < heardDB {
				t.Errorf("browser hears the agent at %.1f dBFS, want above %v", db, heardDB)
			}
			if db := b.power(440, bfrom+1600, 3200); db > absentDB {
				t.Errorf("browser hears itself at %.1f dBFS", db)
			}
			checkContinuity(t, "to the agent", headersOf(agent.packets()))
			checkContinuity(t, "to the browser", b.packets())

			snap := s.Snapshot()
			if l := snap.Legs[0]; !l.RTPLatched || l.Transport != "connected" {
				t.Errorf("browser leg: latched %v, transport %q; want latched to ICE's choice, connected", l.RTPLatched, l.Transport)
			}
			if l := snap.Legs[1]; l.Transport != "" {
				t.Errorf("agent leg transport %q, want plain RTP", l.Transport)
			}
			if st := e.Stats().WebRTC; st.Connected != 1 || st.Failed != 0 {
				t.Errorf("handshakes %+v, want 1 connected", st)
			}
		})
	}
}

// checkWebRTCAnswer asserts what a browser needs in earshot's answer.
func checkWebRTCAnswer(t *testing.T, e *Engine, b []byte, port int) {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		t.Fatalf("answer unparseable: %v\n%s", err, b)
	}
	if _, ok := d.Attribute("ice-lite"); !ok {
		t.Errorf("answer lacks a=ice-lite\n%s", b)
	}
	md := d.MediaDescriptions[0]
	if got := strings.Join(md.MediaName.Protos, "/"); got != "UDP/TLS/RTP/SAVPF" {
		t.Errorf("answer profile %s, want UDP/TLS/RTP/SAVPF", got)
	}
	want := map[string]string{
		"setup":       "passive",
		"fingerprint": e.cert.Fingerprint(),
		"candidate":   "1 1 udp 2130706431 127.0.0.1 " + strconv.Itoa(port) + " typ host",
	}
	for k, v := range want {
		if got, _ := md.Attribute(k); got != v {
			t.Errorf("a=%s is %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"ice-ufrag", "ice-pwd", "rtcp-mux", "mid"} {
		if _, ok := md.Attribute(k); !ok {
			t.Errorf("answer lacks a=%s\n%s", k, b)
		}
	}
}

// checkContinuity asserts one SSRC with sequence numbers +1 and
// timestamps +160 between consecutive audio packets.
func checkContinuity(t *testing.T, what string, hs []rtpHeader) {
	t.Helper()
	var audio []rtpHeader
	for _, h := range hs {
		if h.PayloadType == 0 || h.PayloadType == 8 {
			audio = append(audio, h)
		}
	}
	if len(audio) < 20 {
		t.Fatalf("%s: %d audio packets", what, len(audio))
	}
	for i := 1; i < len(audio); i++ {
		p, h := audio[i-1], audio[i]
		if h.SSRC != p.SSRC || h.SequenceNumber != p.SequenceNumber+1 || h.Timestamp != p.Timestamp+160 {
			t.Errorf("%s: packet %d: ssrc %x seq %d ts %d after ssrc %x seq %d ts %d", what, i,
				h.SSRC, h.SequenceNumber, h.Timestamp, p.SSRC, p.SequenceNumber, p.Timestamp)
			return
		}
	}
}

func headersOf(pkts []rxPacket) []rtpHeader {
	out := make([]rtpHeader, len(pkts))
	for i, p := range pkts {
		out[i] = p.h
	}
	return out
}

// TestWebRTCWrongFingerprint: a browser whose DTLS certificate is not the
// one its SDP announced fails the handshake: the leg reports "failed"
// and no media crosses earshot either way.
func TestWebRTCWrongFingerprint(t *testing.T) {
	e := testEngine(t, nil, nil)
	b := newBrowser(t, mixer.CodecPCMU, 440)
	agent := newTonePhone(t, mixer.CodecPCMU, 1000)
	offer := b.offer()
	other, err := webrtc.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	var d sdp.SessionDescription
	if err := d.Unmarshal(offer); err != nil {
		t.Fatal(err)
	}
	fp, ok := d.MediaDescriptions[0].Attribute("fingerprint")
	if !ok {
		fp, _ = d.Attribute("fingerprint")
	}
	forged := bytes.ReplaceAll(offer, []byte("a=fingerprint:"+fp), []byte("a=fingerprint:"+other.Fingerprint()))
	if bytes.Equal(forged, offer) {
		t.Fatal("no fingerprint to replace in the browser's offer")
	}
	s, answer := webrtcCall(t, e, b, agent, forged)
	b.answer(answer)
	b.start()
	agent.start(earshotRTP(s, 1))
	waitFor(t, func() bool { return s.Snapshot().Legs[0].Transport == "failed" })
	// Media keeps being sent on both sides for a while: none gets through.
	select {
	case <-b.connected:
		t.Fatal("the browser connected")
	case <-time.After(500 * time.Millisecond):
	}
	if n := agent.samples(); n != 0 {
		t.Errorf("the agent received %d samples from a browser that failed DTLS", n)
	}
	if n := b.samples(); n != 0 {
		t.Errorf("the browser received %d samples", n)
	}
	if st := e.Stats(); st.RTPPacketsTo[Caller] != 0 || st.RTPPacketsTo[Callee] != 0 {
		t.Errorf("packets sent: to the browser %d, to the agent %d; want none", st.RTPPacketsTo[Caller], st.RTPPacketsTo[Callee])
	}
	if st := e.Stats().WebRTC; st.Connected != 0 || st.Failed != 1 {
		t.Errorf("handshakes %+v, want 1 failed", st)
	}
}

// TestWebRTCReofferKeepsTransport: a re-offer repeating the browser's
// credentials keeps the transport and its selected peer; one with new
// credentials (an ICE restart) replaces it and waits for ICE again, with
// earshot's own credentials unchanged.
func TestWebRTCReofferKeepsTransport(t *testing.T) {
	e := testEngine(t, nil, nil)
	p, ph := newRawPeer(t), newPhone(t)
	s, answer := rawCall(t, e, p, ph, "")
	p.connect(answer, earshotRTP(s, 0))
	// The peer may finish its handshake a moment before earshot's side.
	waitFor(t, func() bool { return s.Snapshot().Legs[0].Transport == "connected" })
	t0 := s.pair.Load()[0].wrtc.Load()
	if _, err := s.Offer(0, p.offer("")); err != nil {
		t.Fatal(err)
	}
	again, err := s.Answer(1, ph.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	if s.pair.Load()[0].wrtc.Load() != t0 || s.Snapshot().Legs[0].Transport != "connected" {
		t.Fatal("a re-offer with the same credentials replaced the transport")
	}
	c1, _ := remoteOf(t, answer)
	c2, _ := remoteOf(t, again)
	if c1 != c2 {
		t.Errorf("earshot's credentials changed on a re-offer: %v then %v", c1, c2)
	}
	p.creds = webrtc.NewCredentials()
	if _, err := s.Offer(0, p.offer("")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, ph.sdp("")); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot().Legs[0]
	if s.pair.Load()[0].wrtc.Load() == t0 || snap.Transport != "new" || snap.RemoteRTP.IsValid() {
		t.Errorf("after an ICE restart: transport %s, sending to %v; want a new one waiting for ICE", snap.Transport, snap.RemoteRTP)
	}
	if t0.State() != webrtc.StateClosed {
		t.Errorf("the old transport is %v, want closed", t0.State())
	}
	// A plain re-offer (the phone behind the leg changed) ends WebRTC.
	if _, err := s.Offer(0, ph.sdp("")); err != nil {
		t.Fatal(err)
	}
	if snap := s.Snapshot().Legs[0]; snap.Transport != "" {
		t.Errorf("after a plain re-offer the leg's transport is %q", snap.Transport)
	}
}

// TestWebRTCReofferFromPhone: the plain phone re-offers (a hold, a
// refresh); earshot offers the browser WebRTC SDP with a=setup:actpass,
// takes the browser's WebRTC answer, keeps the DTLS association, and the
// audio goes on.
func TestWebRTCReofferFromPhone(t *testing.T) {
	e := testEngine(t, nil, nil)
	b := newBrowser(t, mixer.CodecPCMU, 440)
	agent := newTonePhone(t, mixer.CodecPCMU, 1000)
	s, answer := webrtcCall(t, e, b, agent, b.offer())
	b.answer(answer)
	b.waitConnected()
	b.start()
	agent.start(earshotRTP(s, 1))
	t0 := s.pair.Load()[0].wrtc.Load()

	offer, err := s.Offer(1, agent.sdp())
	if err != nil {
		t.Fatal(err)
	}
	var d sdp.SessionDescription
	if err := d.Unmarshal(offer); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.MediaDescriptions[0].Attribute("setup"); v != "actpass" {
		t.Errorf("re-offer to the browser says a=setup:%s, want actpass\n%s", v, offer)
	}
	if err := b.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		t.Fatalf("browser refused earshot's re-offer: %v\n%s", err, offer)
	}
	ans, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	plain, err := s.Answer(0, []byte(b.pc.LocalDescription().SDP))
	if err != nil {
		t.Fatalf("browser's answer: %v", err)
	}
	checkPlain(t, plain)
	if s.pair.Load()[0].wrtc.Load() != t0 {
		t.Fatal("the re-offer replaced the DTLS transport")
	}
	from := agent.listenFor(400 * time.Millisecond)
	agent.heard("agent hears the browser after the re-offer", 440, from, 3200)
	bfrom := b.listenFor(400 * time.Millisecond)
	if db := b.power(1000, bfrom, 3200); db < heardDB {
		t.Errorf("browser hears the agent at %.1f dBFS after the re-offer", db)
	}
}

// TestWebRTCBarge: a supervisor barges into a browser's call. The mixer
// takes the browser's decrypted audio and sends the browser encrypted
// frames: the browser hears the agent and the supervisor, the agent the
// browser and the supervisor, the supervisor both.
func TestWebRTCBarge(t *testing.T) {
	e := testEngine(t, nil, nil)
	b := newBrowser(t, mixer.CodecPCMU, 440)
	agent := newTonePhone(t, mixer.CodecPCMU, 1000)
	sup := newTonePhone(t, mixer.CodecPCMU, 1250)
	s, answer := webrtcCall(t, e, b, agent, b.offer())
	b.answer(answer)
	b.waitConnected()
	b.start()
	agent.start(earshotRTP(s, 1))
	l := supervisor(t, s, sup, nil)
	if err := l.Attach(mixer.ModeBarge); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.pair.Load()[0].out.mixing() && s.pair.Load()[1].out.mixing() })
	win := 3200
	bf := b.listenFor(600 * time.Millisecond)
	af := agent.listenFor(600 * time.Millisecond)
	sf := sup.listenFor(600 * time.Millisecond)
	for _, c := range []struct {
		what string
		db   float64
		want bool
	}{
		{"browser hears the agent", b.power(1000, bf+1600, win), true},
		{"browser hears the supervisor", b.power(1250, bf+1600, win), true},
		{"browser hears itself", b.power(440, bf+1600, win), false},
	} {
		if c.want && c.db < heardDB || !c.want && c.db > absentDB {
			t.Errorf("%s: %.1f dBFS", c.what, c.db)
		}
	}
	agent.heard("agent hears the browser", 440, af+1600, win)
	agent.heard("agent hears the supervisor", 1250, af+1600, win)
	sup.heard("supervisor hears the browser", 440, sf+1600, win)
	sup.heard("supervisor hears the agent", 1000, sf+1600, win)
	checkContinuity(t, "to the browser across relay and mix", b.packets())
}
