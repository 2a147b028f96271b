package rtpengine

import (
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	pwebrtc "github.com/pion/webrtc/v4"
	"github.com/zaf/g711"
)

// browser is a WebRTC peer in the test process: a pion PeerConnection on
// loopback with one G.711 audio track that sends a sine every 20 ms, and
// a decoder of the audio it receives. It stands in for a browser.
type browser struct {
	t     *testing.T
	pc    *pwebrtc.PeerConnection
	track *pwebrtc.TrackLocalStaticRTP
	codec mixer.Codec
	freq  float64

	mu     sync.Mutex // guards the fields below
	pcm    []int16
	pkts   []rtpHeader
	notify chan struct{}

	connected chan struct{} // closed when the PeerConnection is connected
	failed    chan struct{} // closed when it failed
	stop      chan struct{}
	wg        sync.WaitGroup
}

func newBrowser(t *testing.T, codec mixer.Codec, freq float64) *browser {
	t.Helper()
	m := &pwebrtc.MediaEngine{}
	for _, c := range []struct {
		mime string
		pt   pwebrtc.PayloadType
	}{{pwebrtc.MimeTypePCMU, 0}, {pwebrtc.MimeTypePCMA, 8}} {
		if err := m.RegisterCodec(pwebrtc.RTPCodecParameters{
			RTPCodecCapability: pwebrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: 8000, Channels: 1},
			PayloadType:        c.pt,
		}, pwebrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	// The default interceptors send and receive RTCP reports, so SRTCP
	// crosses earshot both ways.
	reg := &interceptor.Registry{}
	if err := pwebrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	var se pwebrtc.SettingEngine
	se.SetNetworkTypes([]pwebrtc.NetworkType{pwebrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := pwebrtc.NewAPI(pwebrtc.WithMediaEngine(m), pwebrtc.WithInterceptorRegistry(reg), pwebrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	mime := pwebrtc.MimeTypePCMU
	if codec == mixer.CodecPCMA {
		mime = pwebrtc.MimeTypePCMA
	}
	track, err := pwebrtc.NewTrackLocalStaticRTP(pwebrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1}, "audio", "browser")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, pc: pc, track: track, codec: codec, freq: freq, notify: make(chan struct{}, 1),
		connected: make(chan struct{}), failed: make(chan struct{}), stop: make(chan struct{})}
	var once, failOnce sync.Once
	pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		switch s {
		case pwebrtc.PeerConnectionStateConnected:
			once.Do(func() { close(b.connected) })
		case pwebrtc.PeerConnectionStateFailed:
			failOnce.Do(func() { close(b.failed) })
		}
	})
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		b.wg.Add(1)
		go b.receive(tr)
	})
	// Drain RTCP from the sender so the interceptors keep running.
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(b.stop)
		pc.Close()
		b.wg.Wait()
	})
	return b
}

// offer makes the browser's offer with every candidate gathered (no
// trickle), as a SIP phone carrying it would send it.
func (b *browser) offer() []byte {
	b.t.Helper()
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	gathered := pwebrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(offer); err != nil {
		b.t.Fatal(err)
	}
	<-gathered
	return []byte(b.pc.LocalDescription().SDP)
}

// answer applies earshot's answer.
func (b *browser) answer(sdp []byte) {
	b.t.Helper()
	if err := b.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(sdp)}); err != nil {
		b.t.Fatalf("browser refused earshot's answer: %v\n%s", err, sdp)
	}
}

// waitConnected waits for ICE and DTLS to complete.
func (b *browser) waitConnected() {
	b.t.Helper()
	select {
	case <-b.connected:
	case <-b.failed:
		b.t.Fatal("browser's PeerConnection failed")
	case <-time.After(rxTimeout):
		b.t.Fatalf("browser not connected within %v (state %v)", rxTimeout, b.pc.ConnectionState())
	}
}

// start sends the tone every 20 ms until the test ends.
func (b *browser) start() {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: b.codec.PayloadType(), SequenceNumber: 7000, Timestamp: 90000},
			Payload: make([]byte, 160)}
		for n := 0; ; n++ {
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
			for i := range 160 {
				s := int16(toneAmp * math.Sin(2*math.Pi*b.freq*float64(n*160+i)/8000))
				if b.codec == mixer.CodecPCMA {
					pkt.Payload[i] = g711.EncodeAlawFrame(s)
				} else {
					pkt.Payload[i] = g711.EncodeUlawFrame(s)
				}
			}
			if err := b.track.WriteRTP(pkt); err != nil {
				return
			}
			pkt.SequenceNumber++
			pkt.Timestamp += 160
		}
	}()
}

func (b *browser) receive(tr *pwebrtc.TrackRemote) {
	defer b.wg.Done()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.pkts = append(b.pkts, rtpHeader{Marker: pkt.Marker, PayloadType: pkt.PayloadType,
			SequenceNumber: pkt.SequenceNumber, Timestamp: pkt.Timestamp, SSRC: pkt.SSRC})
		for _, c := range pkt.Payload {
			switch pkt.PayloadType {
			case 0:
				b.pcm = append(b.pcm, g711.DecodeUlawFrame(c))
			case 8:
				b.pcm = append(b.pcm, g711.DecodeAlawFrame(c))
			}
		}
		b.mu.Unlock()
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
}

func (b *browser) samples() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pcm)
}

// listenFor waits for d of audio and returns the index of its first sample.
func (b *browser) listenFor(d time.Duration) int {
	b.t.Helper()
	from := b.samples()
	want := from + int(d/time.Millisecond)*8
	deadline := time.NewTimer(rxTimeout)
	defer deadline.Stop()
	for b.samples() < want {
		select {
		case <-b.notify:
		case <-deadline.C:
			b.t.Fatalf("browser received %d samples, want %d", b.samples(), want)
		}
	}
	return from
}

func (b *browser) power(freq float64, from, n int) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return goertzelDB(b.pcm[from:from+n], freq)
}

func (b *browser) packets() []rtpHeader {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]rtpHeader(nil), b.pkts...)
}
