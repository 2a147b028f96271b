package b2bua

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCallSetup: one whole call through a Server on loopback — a
// carrier's INVITE with SDP to the support number, the agent's phone
// answers, ACK, the caller's BYE, 200 — with the test media (the media
// engine's own set-up is rtpengine's to measure). The two phones are raw
// UDP sockets with reused buffers, so allocs/op and B/op are the Server's
// (with the SIP stack under it) per call.
func BenchmarkCallSetup(b *testing.B) {
	s := newTestServer(b, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy}, nil)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		b.Fatal(err)
	}
	h := newCallHarness(b, netip.MustParseAddrPort(addrs[0]))
	h.state = func() any { return s.Calls() }
	// The 200 to the BYE leaves before the call is forgotten and its agent
	// freed; the next call waits for that, or it would find the agent
	// still busy.
	h.idle = func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.calls) == 0
	}
	req := sipRequest(b, "REGISTER", "sip:"+addrs[0],
		"Contact: <sip:1001@"+h.agentAddr.String()+">", "From: <sip:1001@demo>;tag=r", "To: <sip:1001@demo>")
	req.SetSource(h.agentAddr.String())
	if _, rerr := s.reg.update("demo", "1001", req); rerr != nil {
		b.Fatalf("register: %+v", rerr)
	}
	h.call(0) // warm up: first-call caches, sipgo's pools
	b.ReportAllocs()
	b.ResetTimer()
	n := 1
	for b.Loop() {
		h.call(n)
		n++
	}
}

// callHarness plays the carrier (from a trunk source) and the agent's
// phone with hand-built messages into reused buffers.
type callHarness struct {
	b                    testing.TB
	srv                  netip.AddrPort
	caller, agent        *net.UDPConn
	callerAddr           netip.AddrPort
	agentAddr            netip.AddrPort
	out, in, to, contact []byte
	state                func() any  // the server's state, for a failure's report
	idle                 func() bool // no call in the server's table
	// tos keeps each answered call's To (with earshot's tag) when not
	// nil, for a hang-up of any of them.
	tos map[int][]byte
}

func newCallHarness(b testing.TB, srv netip.AddrPort) *callHarness {
	h := &callHarness{b: b, srv: srv, out: make([]byte, 0, 4096), in: make([]byte, 65536)}
	var err error
	// The carrier's trunk sources are 127.0.2.0/24 (flowTenants).
	if h.caller, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.2.1:0"))); err != nil {
		b.Fatal(err)
	}
	if h.agent, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.caller.Close(); h.agent.Close() })
	h.callerAddr = h.caller.LocalAddr().(*net.UDPAddr).AddrPort()
	h.agentAddr = h.agent.LocalAddr().(*net.UDPAddr).AddrPort()
	return h
}

const benchSDP = "v=0\r\no=- 1 1 IN IP4 127.0.2.1\r\ns=-\r\nc=IN IP4 127.0.2.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// call runs call number n from INVITE to the 200 for the BYE.
func (h *callHarness) call(n int) {
	deadline := h.answer(n)
	h.hangup(n)
	for !h.idle() {
		if time.Now().After(deadline) {
			h.b.Fatalf("call %d still in the table: %+v", n, h.state())
		}
		runtime.Gosched()
	}
}

// hangup ends answered call n with the carrier's BYE: earshot's BYE to
// the agent's phone is answered, and the carrier gets its 200. Any call
// answered but the last needs h.tos.
func (h *callHarness) hangup(n int) {
	if to, ok := h.tos[n]; ok {
		h.to = append(h.to[:0], to...)
	}
	h.out = h.inDialog(h.out[:0], "BYE", n, 2)
	h.send(h.caller, h.srv)

	// The agent's phone gets earshot's ACK and BYE, and answers the BYE.
	msg, from := h.recv(h.agent, "BYE ")
	h.out = h.response(h.out[:0], msg, n, false)
	h.send(h.agent, from)

	h.recvStatus(h.caller, "BYE")
}

// readDeadline sets the reads of both phones to fail d from now (setting
// it allocates nothing), so that a lost message fails the test instead of
// hanging it, and returns that moment.
func (h *callHarness) readDeadline(d time.Duration) time.Time {
	deadline := time.Now().Add(d)
	_ = h.caller.SetReadDeadline(deadline)
	_ = h.agent.SetReadDeadline(deadline)
	return deadline
}

// answer sets call number n up: the carrier's INVITE, the agent phone's
// 200, the carrier's ACK. It returns the call's deadline.
func (h *callHarness) answer(n int) time.Time {
	// One deadline per call (setting it allocates nothing): a lost
	// message fails the benchmark instead of hanging it.
	deadline := h.readDeadline(5 * time.Second)
	// INVITE, carrier → earshot.
	h.invite(n)
	h.send(h.caller, h.srv)

	// The agent's phone answers the INVITE earshot sends it.
	msg, from := h.recv(h.agent, "INVITE ")
	h.out = h.response(h.out[:0], msg, n, true)
	h.send(h.agent, from)

	// The carrier gets the 200 and ACKs.
	msg, _ = h.recvStatus(h.caller, "INVITE")
	h.to = append(h.to[:0], header(msg, "To")...)
	if h.tos != nil {
		h.tos[n] = slices.Clone(h.to)
	}
	h.contact = append(h.contact[:0], header(msg, "Contact")...)
	h.out = h.inDialog(h.out[:0], "ACK", n, 1)
	h.send(h.caller, h.srv)
	return deadline
}

// invite builds the carrier's INVITE number n, with its SDP offer, in h.out.
func (h *callHarness) invite(n int) {
	h.out = h.request(h.out[:0], "INVITE", "sip:100@"+"x", n, 1)
	h.out = append(h.out, "Contact: <sip:+4930555@"...)
	h.out = h.callerAddr.AppendTo(h.out)
	h.out = append(h.out, ">\r\nContent-Type: application/sdp\r\nContent-Length: "...)
	h.out = strconv.AppendInt(h.out, int64(len(benchSDP)), 10)
	h.out = append(h.out, "\r\n\r\n"+benchSDP...)
}

func (h *callHarness) request(b []byte, method, _ string, n, cseq int) []byte {
	b = append(b, method...)
	b = append(b, " sip:100@"...)
	b = h.srv.AppendTo(b)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = h.callerAddr.AppendTo(b)
	b = append(b, ";branch=z9hG4bK-b"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, method...)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: <sip:+4930555@127.0.2.1>;tag=c"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: bench-"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendInt(b, int64(cseq), 10)
	b = append(b, ' ')
	b = append(b, method...)
	return append(b, "\r\n"...)
}

// inDialog builds the carrier's ACK or BYE, to the Contact and with the
// To (and its tag) of earshot's 200.
func (h *callHarness) inDialog(b []byte, method string, n, cseq int) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	uri := h.contact
	if i := bytes.IndexByte(uri, '<'); i >= 0 {
		uri = uri[i+1:]
		if j := bytes.IndexByte(uri, '>'); j >= 0 {
			uri = uri[:j]
		}
	}
	b = append(b, uri...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = h.callerAddr.AppendTo(b)
	b = append(b, ";branch=z9hG4bK-b"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, method...)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: <sip:+4930555@127.0.2.1>;tag=c"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\nTo: "...)
	b = append(b, h.to...)
	b = append(b, "\r\nCall-ID: bench-"...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendInt(b, int64(cseq), 10)
	b = append(b, ' ')
	b = append(b, method...)
	return append(b, "\r\nContent-Length: 0\r\n\r\n"...)
}

// response builds the agent phone's 200 to req: its Vias, From, To (with
// a tag for the INVITE), Call-ID and CSeq, and for the INVITE a Contact
// and an SDP answer.
func (h *callHarness) response(b, req []byte, n int, invite bool) []byte {
	b = append(b, "SIP/2.0 200 OK\r\n"...)
	for line := range bytes.SplitSeq(req, []byte("\r\n")) {
		if len(line) == 0 {
			break
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch string(name) {
		case "Via", "From", "Call-ID", "CSeq":
			b = append(b, line...)
			b = append(b, "\r\n"...)
		case "To":
			b = append(b, line...)
			if invite {
				b = append(b, ";tag=a"...)
				b = strconv.AppendInt(b, int64(n), 10)
			}
			b = append(b, "\r\n"...)
		}
	}
	if !invite {
		return append(b, "Content-Length: 0\r\n\r\n"...)
	}
	b = append(b, "Contact: <sip:1001@"...)
	b = h.agentAddr.AppendTo(b)
	b = append(b, ">\r\nContent-Type: application/sdp\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(benchSDP)), 10)
	return append(b, "\r\n\r\n"+benchSDP...)
}

func (h *callHarness) send(c *net.UDPConn, to netip.AddrPort) {
	if _, err := c.WriteToUDPAddrPort(h.out, to); err != nil {
		h.b.Fatal(err)
	}
}

// recv returns the next request on c that starts with prefix, skipping
// anything else (ACKs, retransmissions).
func (h *callHarness) recv(c *net.UDPConn, prefix string) ([]byte, netip.AddrPort) {
	for {
		n, from, err := c.ReadFromUDPAddrPort(h.in)
		if err != nil {
			h.b.Fatalf("waiting for %q: %v; the carrier's last message: %q; calls %+v", prefix, err, h.lastOn(h.caller), h.state())
		}
		if bytes.HasPrefix(h.in[:n], []byte(prefix)) {
			return h.in[:n], from
		}
	}
}

// lastOn returns the next message waiting on c, for a failure's report.
func (h *callHarness) lastOn(c *net.UDPConn) []byte {
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 2048)
	n, _, _ := c.ReadFromUDPAddrPort(buf)
	return buf[:n]
}

// recvStatus returns the next final response to method on c; anything
// but a 200 fails the benchmark.
func (h *callHarness) recvStatus(c *net.UDPConn, method string) ([]byte, netip.AddrPort) {
	for {
		msg, from := h.recv(c, "SIP/2.0 ")
		if !bytes.HasSuffix(header(msg, "CSeq"), []byte(method)) || msg[8] == '1' {
			continue
		}
		if !bytes.HasPrefix(msg, []byte("SIP/2.0 200 ")) {
			h.b.Fatalf("%s answered:\n%s", method, msg)
		}
		return msg, from
	}
}

// header returns the value of the first header called name in msg.
func header(msg []byte, name string) []byte {
	for line := range bytes.SplitSeq(msg, []byte("\r\n")) {
		if len(line) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(k) == name {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}
