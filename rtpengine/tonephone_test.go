package rtpengine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/zaf/g711"
)

// Test tones: -18 dBFS sines at frequencies no cue uses.
const (
	toneAmp   = 0.125 * 32767 // -18 dBFS
	heardDB   = -35.0
	absentDB  = -50.0
	rxTimeout = 10 * time.Second
)

// rxPacket is one RTP packet a tonePhone received.
type rxPacket struct {
	h       rtpHeader
	arrival time.Time
	n       int // samples of decoded audio before it (index into pcm)
}

// tonePhone is a fake phone: it sends a continuous G.711 sine every 20 ms
// from its RTP socket and decodes every audio packet it receives.
type tonePhone struct {
	t      *testing.T
	rtp    *net.UDPConn
	rtcp   *net.UDPConn
	codec  mixer.Codec
	freq   float64
	ssrc   uint32
	events chan []byte // telephone-event payloads to send next, sharing the sender's seq
	hushed atomic.Bool // hush was called: the phone sends nothing more

	mu     sync.Mutex // guards the fields below
	dst    netip.AddrPort
	pcm    []int16
	pkts   []rxPacket
	notify chan struct{} // signalled after every received packet

	stop chan struct{}
	wg   sync.WaitGroup
}

func newTonePhone(t *testing.T, codec mixer.Codec, freq float64) *tonePhone {
	t.Helper()
	p := &tonePhone{t: t, rtp: listen(t), rtcp: listen(t), codec: codec, freq: freq,
		ssrc: uint32(freq) * 7919, events: make(chan []byte, 16),
		notify: make(chan struct{}, 1), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.receive()
	t.Cleanup(func() {
		close(p.stop)
		p.rtp.Close()
		p.wg.Wait()
	})
	return p
}

// sdp offers or answers just the phone's codec and telephone-event 101.
func (p *tonePhone) sdp() []byte {
	pt := p.codec.PayloadType()
	return fmt.Appendf(nil, "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %d 101\r\na=rtpmap:%d %s/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp:%d\r\n",
		port(p.rtp), pt, pt, p.codec, port(p.rtcp))
}

// start begins sending to dst every 20 ms until the test ends.
func (p *tonePhone) start(dst netip.AddrPort) {
	p.mu.Lock()
	p.dst = dst
	p.mu.Unlock()
	p.wg.Add(1)
	go p.send()
}

func (p *tonePhone) send() {
	defer p.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16 = 1000
	var ts uint32 = 50000
	pkt := make([]byte, 12+160)
	for n := 0; ; n++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		if p.hushed.Load() {
			return
		}
		for len(p.events) > 0 {
			ev := <-p.events
			e := append(rtpHeaderBytes(101, seq, binary.BigEndian.Uint32(ev), p.ssrc), ev[4:]...)
			p.rtp.WriteToUDPAddrPort(e, p.dst)
			seq++
		}
		copy(pkt, rtpHeaderBytes(p.codec.PayloadType(), seq, ts, p.ssrc))
		for i := range 160 {
			s := int16(toneAmp * math.Sin(2*math.Pi*p.freq*float64(n*160+i)/8000))
			if p.codec == mixer.CodecPCMA {
				pkt[12+i] = g711.EncodeAlawFrame(s)
			} else {
				pkt[12+i] = g711.EncodeUlawFrame(s)
			}
		}
		p.rtp.WriteToUDPAddrPort(pkt, p.dst)
		seq++
		ts += 160
	}
}

// hush stops the phone's sending; it keeps receiving.
func (p *tonePhone) hush() { p.hushed.Store(true) }

// event queues one telephone-event packet: key code, end bit, duration,
// at event timestamp ts.
func (p *tonePhone) event(code byte, end bool, dur uint16, ts uint32) {
	b := binary.BigEndian.AppendUint32(nil, ts)
	e := byte(10)
	if end {
		e |= 0x80
	}
	b = append(b, code, e)
	p.events <- binary.BigEndian.AppendUint16(b, dur)
}

func rtpHeaderBytes(pt uint8, seq uint16, ts, ssrc uint32) []byte {
	b := []byte{0x80, pt}
	b = binary.BigEndian.AppendUint16(b, seq)
	b = binary.BigEndian.AppendUint32(b, ts)
	return binary.BigEndian.AppendUint32(b, ssrc)
}

func (p *tonePhone) receive() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := p.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 12 {
			continue
		}
		h := rtpHeader{Marker: buf[1]&0x80 != 0, PayloadType: buf[1] & 0x7f,
			SequenceNumber: binary.BigEndian.Uint16(buf[2:]), Timestamp: binary.BigEndian.Uint32(buf[4:]),
			SSRC: binary.BigEndian.Uint32(buf[8:])}
		p.mu.Lock()
		p.pkts = append(p.pkts, rxPacket{h: h, arrival: time.Now(), n: len(p.pcm)})
		switch h.PayloadType {
		case 0:
			for _, b := range buf[12:n] {
				p.pcm = append(p.pcm, g711.DecodeUlawFrame(b))
			}
		case 8:
			for _, b := range buf[12:n] {
				p.pcm = append(p.pcm, g711.DecodeAlawFrame(b))
			}
		}
		p.mu.Unlock()
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// samples returns how many audio samples the phone has received.
func (p *tonePhone) samples() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pcm)
}

// waitSamples waits until the phone has received at least n samples.
func (p *tonePhone) waitSamples(n int) {
	p.t.Helper()
	deadline := time.NewTimer(rxTimeout)
	defer deadline.Stop()
	for p.samples() < n {
		select {
		case <-p.notify:
		case <-deadline.C:
			p.t.Fatalf("phone %v Hz received %d samples, want %d", p.freq, p.samples(), n)
		}
	}
}

// listenFor waits for d of audio from now on and returns the index of its
// first sample; the caller measures pcm[from+skip:from+n].
func (p *tonePhone) listenFor(d time.Duration) int {
	p.t.Helper()
	from := p.samples()
	p.waitSamples(from + int(d/time.Millisecond)*8)
	return from
}

// power returns the level in dBFS of freq in n samples from index from
// (Goertzel over a Hann window; a full-scale sine reads 0 dBFS).
func (p *tonePhone) power(freq float64, from, n int) float64 {
	p.mu.Lock()
	x := p.pcm[from : from+n]
	p.mu.Unlock()
	return goertzelDB(x, freq)
}

// maxPower is the highest power of freq over windows of w samples sliding
// by one frame across pcm[from:from+n].
func (p *tonePhone) maxPower(freq float64, from, n, w int) float64 {
	best := math.Inf(-1)
	for off := 0; off+w <= n; off += 160 {
		best = max(best, p.power(freq, from+off, w))
	}
	return best
}

func goertzelDB(x []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, wsum float64
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(x)-1))
		wsum += w
		s0 := w*float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	mag := math.Sqrt(s1*s1 + s2*s2 - k*s1*s2)
	amp := 2 * mag / wsum / 32768
	return 20 * math.Log10(amp+1e-12)
}

// packets returns a copy of the headers received so far.
func (p *tonePhone) packets() []rxPacket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rxPacket(nil), p.pkts...)
}

// heard and absent assert a tone's level in pcm[from:from+n].
func (p *tonePhone) heard(what string, freq float64, from, n int) {
	p.t.Helper()
	if db := p.power(freq, from, n); db < heardDB {
		p.t.Errorf("%s: %v Hz at %.1f dBFS, want above %v", what, freq, db, heardDB)
	}
}

func (p *tonePhone) absent(what string, freq float64, from, n int) {
	p.t.Helper()
	if db := p.power(freq, from, n); db > absentDB {
		p.t.Errorf("%s: %v Hz at %.1f dBFS, want below %v", what, freq, db, absentDB)
	}
}

// toneCall sets up a call between a customer and an agent tone phone and
// starts both sending.
func toneCall(t *testing.T, e *Engine, cust, agent *tonePhone) *Session {
	t.Helper()
	s, err := e.NewSession("tone-"+t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Offer(0, cust.sdp()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, agent.sdp()); err != nil {
		t.Fatal(err)
	}
	cust.start(earshotRTP(s, 0))
	agent.start(earshotRTP(s, 1))
	return s
}

// supervisor adds a leg for phone sup, answering its offer, and starts it.
func supervisor(t *testing.T, s *Session, sup *tonePhone, onDigit func(byte)) *Leg {
	t.Helper()
	l, err := s.NewLeg(onDigit)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := l.AnswerOffer(sup.sdp())
	if err != nil {
		t.Fatal(err)
	}
	sup.start(netip.AddrPortFrom(loopback, uint16(sdpPort(t, answer))))
	return l
}
