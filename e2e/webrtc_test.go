package e2e

import (
	"encoding/binary"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/earshot/earshot/internal/phone"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/zaf/g711"
)

// webPeer is a WebRTC peer in the test process (pion, loopback only): one
// PCMU track sending a tone, and the PCM it receives. Its SDP goes through
// SIP like any phone's.
type webPeer struct {
	t     *testing.T
	pc    *pwebrtc.PeerConnection
	track *pwebrtc.TrackLocalStaticRTP
	tone  float64

	mu  sync.Mutex // guards pcm
	pcm []int16

	connected chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
}

func newWebPeer(t *testing.T, tone float64) *webPeer {
	t.Helper()
	m := &pwebrtc.MediaEngine{}
	if err := m.RegisterCodec(pwebrtc.RTPCodecParameters{
		RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1},
		PayloadType:        0,
	}, pwebrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	var se pwebrtc.SettingEngine
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := pwebrtc.NewAPI(pwebrtc.WithMediaEngine(m), pwebrtc.WithSettingEngine(se)).NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := pwebrtc.NewTrackLocalStaticRTP(pwebrtc.RTPCodecCapability{MimeType: pwebrtc.MimeTypePCMU, ClockRate: 8000}, "audio", "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	w := &webPeer{t: t, pc: pc, track: track, tone: tone, connected: make(chan struct{}), stop: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		if s == pwebrtc.PeerConnectionStateConnected {
			once.Do(func() { close(w.connected) })
		}
	})
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		w.wg.Add(1)
		go w.receive(tr)
	})
	t.Cleanup(func() {
		close(w.stop)
		pc.Close()
		w.wg.Wait()
	})
	return w
}

// offer is the peer's complete offer (every candidate gathered).
func (w *webPeer) offer() []byte {
	o, err := w.pc.CreateOffer(nil)
	if err != nil {
		w.t.Error(err)
		return nil
	}
	gathered := pwebrtc.GatheringCompletePromise(w.pc)
	if err := w.pc.SetLocalDescription(o); err != nil {
		w.t.Error(err)
		return nil
	}
	<-gathered
	return []byte(w.pc.LocalDescription().SDP)
}

// answered applies earshot's answer, waits for ICE and DTLS and starts
// the tone.
func (w *webPeer) answered(sdp []byte) {
	w.t.Helper()
	if err := w.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(sdp)}); err != nil {
		w.t.Fatalf("earshot's answer refused: %v\n%s", err, sdp)
	}
	select {
	case <-w.connected:
	case <-time.After(10 * time.Second):
		w.t.Fatalf("WebRTC peer not connected (state %v)", w.pc.ConnectionState())
	}
	w.wg.Add(1)
	go w.send()
}

func (w *webPeer) send() {
	defer w.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 1}, Payload: make([]byte, 160)}
	for n := 0; ; n++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		for i := range pkt.Payload {
			pkt.Payload[i] = g711.EncodeUlawFrame(int16(0.3 * 32767 * math.Sin(2*math.Pi*w.tone*float64(n*160+i)/8000)))
		}
		if w.track.WriteRTP(pkt) != nil {
			return
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
	}
}

func (w *webPeer) receive(tr *pwebrtc.TrackRemote) {
	defer w.wg.Done()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if pkt.PayloadType != 0 {
			continue
		}
		w.mu.Lock()
		for _, c := range pkt.Payload {
			w.pcm = append(w.pcm, g711.DecodeUlawFrame(c))
		}
		if len(w.pcm) > 2*phone.SampleRate {
			w.pcm = append(w.pcm[:0], w.pcm[len(w.pcm)-phone.SampleRate:]...)
		}
		w.mu.Unlock()
	}
}

// power is the level of hz over the last 400 ms received, in dBFS.
func (w *webPeer) power(hz float64) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := phone.SampleRate * 4 / 10
	if len(w.pcm) < n {
		return math.Inf(-1)
	}
	return phone.Goertzel(w.pcm[len(w.pcm)-n:], hz)
}

// TestWebRTCCallerHearsAgent: a customer whose SIP phone carries a WebRTC
// offer (ICE, DTLS-SRTP: a browser's media) calls over TCP; earshot
// terminates WebRTC on the caller's leg and the agent's phone gets plain
// RTP. Both hear each other.
func TestWebRTCCallerHearsAgent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tenants[0].Trunks[0].Transport = "tcp"
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	web := newWebPeer(t, toneCustomer)
	// A browser's offer is larger than a UDP datagram should be (RFC 3261
	// §18.1.1 wants TCP past 1300 bytes), so the trunk uses TCP.
	cust, err := phone.NewWith(phone.Config{IP: "127.0.0.2", User: "5551234", Name: "Web customer", Server: e.tcp(), TCP: true},
		phone.Options{Offer: web.offer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cust.Close)
	answered := answerNext(t, agent)
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	as := <-answered
	if as == nil {
		t.Fatal("agent did not answer")
	}
	web.answered(cs.AnswerSDP())
	expectHears(t, "agent", as, toneCustomer)
	expectSilent(t, "agent (own voice)", as, toneAgent)
	deadline := time.Now().Add(3 * time.Second)
	for web.power(toneAgent) < heard {
		if time.Now().After(deadline) {
			t.Fatalf("the WebRTC caller does not hear the agent: %.1f dBFS", web.power(toneAgent))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := web.power(toneCustomer); p > absent {
		t.Errorf("the WebRTC caller hears itself at %.1f dBFS", p)
	}
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatalf("bye: %v", err)
	}
	waitEnded(t, "agent", as)
}

// toneWAV writes a WAV file of a sine at hz (48 kHz, 16-bit mono, 2 s, about
// −10 dBFS), for chromium's fake microphone.
func toneWAV(t *testing.T, hz float64) string {
	t.Helper()
	const rate, secs = 48000, 2
	n := rate * secs
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		v := int16(0.3 * 32767 * math.Sin(2*math.Pi*hz*float64(i)/rate))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	path := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWebRTCChromiumCallerHearsAgent: headless chromium's own WebRTC stack
// (its fake microphone playing a tone) is the caller. Its offer reaches
// earshot in a SIP INVITE; ICE, DTLS and SRTP complete with earshot; the
// agent hears the tone, and chromium receives and decodes the agent's
// audio.
func TestWebRTCChromiumCallerHearsAgent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tenants[0].Trunks[0].Transport = "tcp"
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	br := newBrowser(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", toneWAV(t, toneCustomer)),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	tb := br.tab("caller")
	// A page on loopback is a secure context: the microphone is allowed.
	tb.do("open a page", 5*time.Second, chromedp.Navigate("http://"+e.app.HTTPAddr+"/"))
	offerJS := `(async () => {
		const mic = await navigator.mediaDevices.getUserMedia({audio: true});
		const pc = new RTCPeerConnection();
		window.pc = pc;
		mic.getTracks().forEach(t => pc.addTrack(t, mic));
		pc.ontrack = ev => { const a = new Audio(); a.srcObject = ev.streams[0]; a.play(); window.remote = a; };
		await pc.setLocalDescription(await pc.createOffer());
		await new Promise(done => {
			if (pc.iceGatheringState === 'complete') return done();
			pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
			setTimeout(done, 3000);
		});
		return pc.localDescription.sdp;
	})()`
	offer := eval[string](tb, offerJS)
	if !strings.Contains(offer, "UDP/TLS/RTP/SAVPF") {
		t.Fatalf("chromium's offer:\n%s", offer)
	}
	cust, err := phone.NewWith(phone.Config{IP: "127.0.0.2", User: "5551234", Name: "Chromium", Server: e.tcp(), TCP: true},
		phone.Options{Offer: func() []byte { return []byte(offer) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cust.Close)
	answered := answerNext(t, agent)
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	as := <-answered
	if as == nil {
		t.Fatal("agent did not answer")
	}
	eval[bool](tb, `(async () => { await pc.setRemoteDescription({type: 'answer', sdp: `+jsString(string(cs.AnswerSDP()))+`}); return true })()`)
	tb.wait("chromium connected", `pc.connectionState === 'connected'`, 10*time.Second)
	expectHears(t, "agent", as, toneCustomer)
	// Chromium decrypted and decoded earshot's SRTP: its receiver counts
	// packets and audio energy.
	tb.wait("chromium receives the agent's audio", `(async () => {
		let ok = false;
		(await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio' && r.packetsReceived > 50 && r.totalAudioEnergy > 0) ok = true; });
		return ok;
	})()`, 10*time.Second)
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatalf("bye: %v", err)
	}
	waitEnded(t, "agent", as)
}
