package rtpengine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testEngine starts an engine on loopback over a randomly placed port range
// below the kernel's ephemeral range (so it does not fight the port-0
// sockets of tests), closed at the end of the test. clock may be nil.
func testEngine(t testing.TB, mod func(*Config), clock func() int64) *Engine {
	t.Helper()
	base := 20000 + 2*rand.IntN(5000)
	cfg := Config{BindAddr: loopback, PortMin: base, PortMax: base + 199}
	if mod != nil {
		mod(&cfg)
	}
	e, err := newEngine(cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// phone is a test peer: an RTP and an RTCP socket on loopback, port 0.
type phone struct {
	rtp  *net.UDPConn
	rtcp *net.UDPConn
}

func newPhone(t testing.TB) *phone {
	t.Helper()
	return &phone{rtp: listen(t), rtcp: listen(t)}
}

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func port(c *net.UDPConn) uint16 { return c.LocalAddr().(*net.UDPAddr).AddrPort().Port() }

// sdp is the phone's SDP; dir, if not empty, is added as a media attribute.
func (p *phone) sdp(dir string) []byte {
	s := fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:%d\r\n", port(p.rtp), port(p.rtcp))
	if dir != "" {
		s += "a=" + dir + "\r\n"
	}
	return []byte(s)
}

// send writes pkt from conn to dst.
func send(t *testing.T, conn *net.UDPConn, dst netip.AddrPort, pkt []byte) {
	t.Helper()
	if _, err := conn.WriteToUDPAddrPort(pkt, dst); err != nil {
		t.Fatal(err)
	}
}

// recv reads one datagram from conn, failing the test after a generous
// deadline. It returns the datagram and its source.
func recv(t *testing.T, conn *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, src, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("no packet on %v within 5s", conn.LocalAddr())
		}
		t.Fatal(err)
	}
	return buf[:n], src
}

// earshotRTP is earshot's RTP address on leg i of s.
func earshotRTP(s *Session, i int) netip.AddrPort {
	return netip.AddrPortFrom(loopback, s.pair.Load()[i].port)
}

func earshotRTCP(s *Session, i int) netip.AddrPort {
	return netip.AddrPortFrom(loopback, s.pair.Load()[i].port+1)
}

// sdpPort returns the port of the first m-line of an SDP earshot produced.
func sdpPort(t *testing.T, b []byte) int {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		t.Fatalf("earshot produced unparseable SDP: %v\n%s", err, b)
	}
	return d.MediaDescriptions[0].MediaName.Port.Value
}

// call sets up a session between caller a (leg 0) and callee b (leg 1).
func call(t *testing.T, e *Engine, a, b *phone, onTimeout func()) *Session {
	t.Helper()
	s, err := e.NewSession("call-"+t.Name(), onTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	offer, err := s.Offer(0, a.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sdpPort(t, offer), int(s.pair.Load()[1].port); got != want {
		t.Fatalf("offer to callee carries port %d, want leg 1's %d", got, want)
	}
	answer, err := s.Answer(1, b.sdp(""))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sdpPort(t, answer), int(s.pair.Load()[0].port); got != want {
		t.Fatalf("answer to caller carries port %d, want leg 0's %d", got, want)
	}
	return s
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
