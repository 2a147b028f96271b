package phone

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zaf/g711"
)

// Codec payload types the phone speaks.
const (
	PCMU = 0
	PCMA = 8
)

// historySamples is how much received audio a stream keeps (2 s).
const historySamples = 2 * SampleRate

// Stream is one call's RTP: it sends a tone and records what it receives.
type Stream struct {
	conn  *net.UDPConn
	pt    uint8
	tone  float64
	ssrc  uint32
	amp   float64
	dest  atomic.Pointer[netip.AddrPort]
	muted atomic.Bool

	mu      sync.Mutex // guards the fields below
	hist    []int16    // ring of received samples
	pos     int
	rxCount int
	rxSSRC  []uint32
	lastSeq uint16
	lastTS  uint32
	seqGaps int
	tsOdd   []int64 // timestamp steps other than one frame between consecutive audio packets
	lastAud bool    // the last packet was audio (PCMU/PCMA)
	events  int     // telephone-event packets received

	digits chan byte // RFC 4733 events queued for the sender
	loss   float64
	jitter time.Duration

	// life orders start against Close: a BYE may end the session (on the
	// SIP stack's goroutine) while Call is still starting the stream.
	life   sync.Mutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newStream(ip string, pt uint8, tone float64) (*Stream, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		return nil, err
	}
	return &Stream{conn: conn, pt: pt, tone: tone, ssrc: rand.Uint32(), amp: 0.3,
		hist: make([]int16, historySamples), digits: make(chan byte, 16), stop: make(chan struct{})}, nil
}

// Port is the local RTP port.
func (s *Stream) Port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// SetDest points the sender at the remote RTP address.
func (s *Stream) SetDest(a netip.AddrPort) { s.dest.Store(&a) }

// Mute stops sending (hold) without stopping the clock.
func (s *Stream) Mute(m bool) { s.muted.Store(m) }

func (s *Stream) start() {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(2)
	go s.send()
	go s.receive()
}

func (s *Stream) send() {
	defer s.wg.Done()
	const frame = 160
	buf := make([]byte, 12+frame)
	var seq uint16 = uint16(rand.Uint32())
	ts := rand.Uint32()
	var phase float64
	step := 2 * math.Pi * s.tone / SampleRate
	start := time.Now()
	var ev dtmfEvent
	for n := 0; ; n++ {
		// Absolute schedule: frame n goes out at start + n*20ms.
		wait := time.Until(start.Add(time.Duration(n) * 20 * time.Millisecond))
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		if !ev.active() {
			select {
			case d := <-s.digits:
				ev = newDTMFEvent(d, ts)
			default:
			}
		}
		if ev.active() {
			seq = ev.send(s, seq)
			ts += frame
			continue
		}
		buf[0], buf[1] = 0x80, s.pt
		binary.BigEndian.PutUint16(buf[2:], seq)
		binary.BigEndian.PutUint32(buf[4:], ts)
		binary.BigEndian.PutUint32(buf[8:], s.ssrc)
		for i := 0; i < frame; i++ {
			v := int16(s.amp * 32767 * math.Sin(phase))
			phase += step
			if s.pt == PCMA {
				buf[12+i] = g711.EncodeAlawFrame(v)
			} else {
				buf[12+i] = g711.EncodeUlawFrame(v)
			}
		}
		phase = math.Mod(phase, 2*math.Pi)
		ts += frame
		d := s.dest.Load()
		if d == nil || s.muted.Load() {
			// Not sent: the timestamp follows the clock, the sequence
			// number counts packets sent (RFC 3550 §5.1).
			continue
		}
		seq++
		s.write(buf, *d)
	}
}

// write sends one packet, impaired as configured: dropped at random, or
// delayed (so reordered) by a copy sent later.
func (s *Stream) write(pkt []byte, d netip.AddrPort) {
	if s.loss > 0 && rand.Float64() < s.loss {
		return
	}
	if s.jitter <= 0 {
		_, _ = s.conn.WriteToUDPAddrPort(pkt, d)
		return
	}
	cp := append([]byte(nil), pkt...)
	time.AfterFunc(rand.N(s.jitter), func() { _, _ = s.conn.WriteToUDPAddrPort(cp, d) })
}

func (s *Stream) receive() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		pt := buf[1] & 0x7f
		seq := binary.BigEndian.Uint16(buf[2:])
		ts := binary.BigEndian.Uint32(buf[4:])
		ssrc := binary.BigEndian.Uint32(buf[8:])
		payload := buf[12+4*int(buf[0]&0x0f) : n]
		audio := pt == PCMU || pt == PCMA
		s.mu.Lock()
		if len(s.rxSSRC) == 0 || s.rxSSRC[len(s.rxSSRC)-1] != ssrc {
			s.rxSSRC = append(s.rxSSRC, ssrc)
		} else if seq != s.lastSeq+1 {
			s.seqGaps++
		} else if step := int64(int32(ts - s.lastTS)); s.lastAud && audio && step != 160 && len(s.tsOdd) < 100 {
			s.tsOdd = append(s.tsOdd, step)
		}
		if pt == dtmfPT {
			s.events++
		}
		s.lastAud = audio
		s.lastSeq, s.lastTS = seq, ts
		s.rxCount++
		for _, b := range payload {
			var v int16
			switch pt {
			case PCMA:
				v = g711.DecodeAlawFrame(b)
			case PCMU:
				v = g711.DecodeUlawFrame(b)
			default:
				continue
			}
			s.hist[s.pos] = v
			s.pos = (s.pos + 1) % len(s.hist)
		}
		s.mu.Unlock()
	}
}

// Recent returns the last d of received audio (oldest first).
func (s *Stream) Recent(d time.Duration) []int16 {
	n := min(int(d.Seconds()*SampleRate), len(s.hist))
	out := make([]int16, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		out[i] = s.hist[(s.pos-n+i+len(s.hist))%len(s.hist)]
	}
	return out
}

// Power is the Goertzel power of hz over the last 400 ms received, dBFS.
func (s *Stream) Power(hz float64) float64 {
	return Goertzel(s.Recent(400*time.Millisecond), hz)
}

// Clear forgets received audio, so that Power measures only what arrives
// after the call.
func (s *Stream) Clear() {
	s.mu.Lock()
	clear(s.hist)
	s.mu.Unlock()
}

// Received is the number of RTP packets received.
func (s *Stream) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rxCount
}

// Continuity reports the SSRCs seen in order and the number of sequence
// gaps within one SSRC.
func (s *Stream) Continuity() (ssrcs []uint32, gaps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.rxSSRC...), s.seqGaps
}

// TimestampSteps returns the timestamp steps, other than one 20 ms frame,
// seen between packets with consecutive sequence numbers of one SSRC.
func (s *Stream) TimestampSteps() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.tsOdd...)
}

// ResetContinuity forgets the SSRCs, gaps and timestamp steps seen so far,
// so that Continuity and TimestampSteps describe what arrives from now on.
func (s *Stream) ResetContinuity() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rxSSRC, s.seqGaps, s.tsOdd = s.rxSSRC[len(s.rxSSRC)-1:], 0, nil
}

// Events is the number of RFC 4733 telephone-event packets received.
func (s *Stream) Events() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events
}

// Close stops the stream and waits for its goroutines.
func (s *Stream) Close() {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	s.conn.Close()
	s.life.Unlock()
	s.wg.Wait()
}
