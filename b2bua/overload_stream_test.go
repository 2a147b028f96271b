package b2bua

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/testcert"
)

// TestOverloadWatchesStreams: over TCP and TLS, as over UDP, the kernel's
// arrival stamps tell the overload watch how long SIP input waited. With
// the server's clock moved 300 ms ahead every read looks that late: after
// a window of such reads earshot is behind and answers a new call's
// INVITE 503 with Retry-After; once reads are quick again it is not.
func TestOverloadWatchesStreams(t *testing.T) {
	if stampSpace == 0 {
		t.Skip("no receive timestamps on this system")
	}
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			var skew atomic.Int64
			s := newTestServer(t, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy,
				Now:      func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
				Overload: Overload{MaxDelay: 50 * time.Millisecond, Interval: 100 * time.Millisecond}}, nil)
			l := Listener{Transport: transport, Address: "127.0.0.1:0"}
			if transport == "tls" {
				l.CertFile, l.KeyFile, _ = testcert.SelfSigned(t, t.TempDir())
			}
			addrs, err := s.Listen([]Listener{l})
			if err != nil {
				t.Fatal(err)
			}
			c := dialStream(t, transport, addrs[0])
			lateWindow := func(first int) { readWindow(c.options, first) }

			lateWindow(1)
			if st := s.Stats(); st.Behind || st.InputWait > 50*time.Millisecond {
				t.Fatalf("quick reads: behind %v, least wait %v", st.Behind, st.InputWait)
			}
			skew.Store(int64(300 * time.Millisecond))
			lateWindow(100)
			if st := s.Stats(); !st.Behind || st.InputWait < 250*time.Millisecond {
				t.Fatalf("after a window of late reads over %s: behind %v, least wait %v", transport, st.Behind, st.InputWait)
			}
			res := c.invite(1)
			if !strings.HasPrefix(res, "SIP/2.0 503 ") || !strings.Contains(res, "\r\nRetry-After: ") {
				t.Fatalf("new call over %s while behind answered:\n%s\nwant 503 with Retry-After", transport, res)
			}
			if n := s.Stats().LoadRefused[LoadBehind]; n != 1 {
				t.Fatalf("%d calls counted as refused while behind, want 1", n)
			}

			// The clock steps back 300 ms: the window open since the last
			// late read closes only once it is over on the clock.
			skew.Store(0)
			time.Sleep(450 * time.Millisecond)
			lateWindow(200)
			if st := s.Stats(); st.Behind {
				t.Fatalf("quick reads again over %s: still behind (least wait %v)", transport, st.InputWait)
			}
		})
	}
}

// streamPeer is a carrier's SIP connection over TCP or TLS.
type streamPeer struct {
	t         *testing.T
	conn      net.Conn
	rd        *bufio.Reader
	transport string // TCP or TLS, for the Via
}

func dialStream(t *testing.T, transport, addr string) *streamPeer {
	t.Helper()
	// From the trunk's addresses, as a carrier.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, 1)}}
	var conn net.Conn
	var err error
	if transport == "tls" {
		conn, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test's own certificate
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &streamPeer{t: t, conn: conn, rd: bufio.NewReader(conn), transport: strings.ToUpper(transport)}
}

// request writes one request from the peer.
func (p *streamPeer) request(method string, n int, extra, body string) {
	p.t.Helper()
	local := p.conn.LocalAddr().String()
	msg := fmt.Sprintf("%s sip:100@%s;transport=%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-s%d%s\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:+4930555@127.0.2.1>;tag=s%d\r\nTo: <sip:100@127.0.0.1>\r\n"+
		"Call-ID: stream-%d\r\nCSeq: 1 %s\r\nContact: <sip:+4930555@%s;transport=%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, p.conn.RemoteAddr(), strings.ToLower(p.transport), p.transport, local, n, method,
		n, n, method, local, strings.ToLower(p.transport), extra, len(body), body)
	if _, err := p.conn.Write([]byte(msg)); err != nil {
		p.t.Fatal(err)
	}
}

// final reads messages until the final response to method, which it
// returns.
func (p *streamPeer) final(method string) string {
	p.t.Helper()
	for {
		msg := p.read()
		if strings.HasPrefix(msg, "SIP/2.0 1") || !strings.Contains(msg, "\r\nCSeq: 1 "+method+"\r\n") {
			continue
		}
		return msg
	}
}

// read reads one message within 5 s.
func (p *streamPeer) read() string {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b bytes.Buffer
	length := 0
	for {
		line, err := p.rd.ReadString('\n')
		if err != nil {
			p.t.Fatalf("reading a message: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(p.rd, body); err != nil {
		p.t.Fatal(err)
	}
	b.Write(body)
	return b.String()
}

func (p *streamPeer) options(n int) {
	p.t.Helper()
	p.request("OPTIONS", n, "", "")
	if res := p.final("OPTIONS"); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		p.t.Fatalf("OPTIONS answered:\n%s", res)
	}
}

func (p *streamPeer) invite(n int) string {
	p.t.Helper()
	p.request("INVITE", n, "Content-Type: application/sdp\r\n", benchSDP)
	return p.final("INVITE")
}
