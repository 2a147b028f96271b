package e2e

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
	"github.com/zaf/g711"
)

type sessionOrErr struct {
	s   *phone.Session
	err error
}

// sprayer is an RTP-bleed attacker (the class of CVE-2017-14099 and
// CVE-2025-53399): from a host that is no party of any call it sends RTP
// carrying a tone of its own to every port of earshot's media range, RTCP
// to the odd ones, over and over, and counts whatever comes back.
type sprayer struct {
	conn     *net.UDPConn
	got      atomic.Int64
	cycles   atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
	min, max int
}

func startSprayer(t *testing.T, ip string, min, max int) *sprayer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	sp := &sprayer{conn: c, stop: make(chan struct{}), min: min, max: max}
	sp.wg.Add(2)
	go sp.receive()
	go sp.spray()
	t.Cleanup(sp.close)
	return sp
}

func (sp *sprayer) receive() {
	defer sp.wg.Done()
	buf := make([]byte, 2048)
	for {
		if _, _, err := sp.conn.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
		sp.got.Add(1)
	}
}

func (sp *sprayer) spray() {
	defer sp.wg.Done()
	rtp := make([]byte, 12+160)
	rtp[0], rtp[1] = 0x80, 0 // PCMU
	binary.BigEndian.PutUint32(rtp[8:], 0x5EC0DE)
	rr := []byte{0x80, 201, 0, 1, 0, 0x5E, 0xC0, 0xDE}
	var seq uint16
	var phase float64
	for {
		for i := 12; i < len(rtp); i++ {
			rtp[i] = g711.EncodeUlawFrame(int16(0.3 * 32767 * math.Sin(phase)))
			phase += 2 * math.Pi * toneOther / 8000
		}
		for port := sp.min; port <= sp.max; port++ {
			to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			if port%2 == 1 {
				_, _ = sp.conn.WriteToUDPAddrPort(rr, to)
				continue
			}
			seq++
			binary.BigEndian.PutUint16(rtp[2:], seq)
			binary.BigEndian.PutUint32(rtp[4:], uint32(seq)*160)
			_, _ = sp.conn.WriteToUDPAddrPort(rtp, to)
		}
		sp.cycles.Add(1)
		select {
		case <-sp.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitCycles returns once the sprayer has covered the whole range n more
// times.
func (sp *sprayer) waitCycles(t *testing.T, n int64) {
	t.Helper()
	want := sp.cycles.Load() + n
	for deadline := time.Now().Add(10 * time.Second); sp.cycles.Load() < want; {
		if time.Now().After(deadline) {
			t.Fatal("sprayer stalled")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (sp *sprayer) close() {
	select {
	case <-sp.stop:
		return
	default:
	}
	close(sp.stop)
	sp.conn.Close()
	sp.wg.Wait()
}

// TestRTPBleedSprayerGetsNothing sprays every media port while a call is
// set up and while it runs: the sprayer must receive zero packets, the
// parties must hear each other and never the sprayer's tone.
func TestRTPBleedSprayerGetsNothing(t *testing.T) {
	cfg := testConfig(t)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cust := e.customer()
	sp := startSprayer(t, "127.0.0.66", cfg.Media.PortMin, cfg.Media.PortMax)
	sp.waitCycles(t, 1)

	// The agent lets the phone ring while the sprayer covers the range a
	// few times: the callee leg exists, its peer has not answered yet.
	answered := make(chan *sessionOrErr, 1)
	go func() {
		in, err := agent.Next(ctx(t))
		if err != nil {
			answered <- &sessionOrErr{err: err}
			return
		}
		_ = in.Ring()
		sp.waitCycles(t, 3)
		s, err := in.Answer()
		answered <- &sessionOrErr{s: s, err: err}
	}()
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	a := <-answered
	if a.err != nil {
		t.Fatalf("agent: %v", a.err)
	}
	as := a.s
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	// Mid-call: the range is sprayed again, over a second of talk.
	sp.waitCycles(t, 25)
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	expectSilent(t, "customer (the sprayer)", cs, toneOther)
	expectSilent(t, "agent (the sprayer)", as, toneOther)
	sp.close()

	if n := sp.got.Load(); n != 0 {
		t.Fatalf("the sprayer received %d packets, want 0", n)
	}
	if d := e.app.Media.Stats().Dropped.Source; d == 0 {
		t.Fatal("no source drops counted: the spray did not reach the call's ports")
	}
	// Both streams stayed one continuous stream each.
	for who, s := range map[string]*phone.Stream{"customer": cs.RTP, "agent": as.RTP} {
		if ssrcs, gaps := s.Continuity(); len(ssrcs) != 1 || gaps != 0 {
			t.Fatalf("%s's stream: SSRCs %x, %d gaps", who, ssrcs, gaps)
		}
	}
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatalf("bye: %v", err)
	}
	waitEnded(t, "agent", as)
}

// TestInDialogHijackRefused: requests with the call's real Call-ID and
// tags, from an address that is not the dialog's peer, are refused with
// 403 and change nothing: the media stays where it was and the real
// caller's BYE still ends the call.
func TestInDialogHijackRefused(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cust := e.customer()
	answered := answerNext(t, agent)
	cs, err := cust.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	as := <-answered
	if as == nil {
		t.Fatal("agent did not answer")
	}
	expectHears(t, "agent", as, toneCustomer)

	callID, fromTag, toTag := cs.DialogIDs()
	sig, err := net.ListenPacket("udp4", "127.0.0.77:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sig.Close()
	media, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.0.0.77")})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	server, _ := net.ResolveUDPAddr("udp", e.udp())
	forge := func(method string, cseq int, body string) int {
		t.Helper()
		msg := method + " sip:100@" + e.udp() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + sig.LocalAddr().String() + ";branch=z9hG4bK-hijack" + strconv.Itoa(cseq) + "\r\n" +
			"From: <sip:5551234@127.0.0.2>;tag=" + fromTag + "\r\nTo: <sip:100@127.0.0.1>;tag=" + toTag + "\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n" +
			"Contact: <sip:5551234@" + sig.LocalAddr().String() + ">\r\nMax-Forwards: 70\r\n"
		if body != "" {
			msg += "Content-Type: application/sdp\r\n"
		}
		msg += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := sig.WriteTo([]byte(msg), server); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		for {
			_ = sig.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := sig.ReadFrom(buf)
			if err != nil {
				t.Fatalf("%s: no response: %v", method, err)
			}
			if code := status(string(buf[:n])); code >= 200 {
				return code
			}
		}
	}
	if code := forge("INVITE", 100, sdpFrom("127.0.0.77", media.LocalAddr().(*net.UDPAddr).Port)); code != 403 {
		t.Fatalf("forged re-INVITE answered %d, want 403", code)
	}
	if code := forge("BYE", 101, ""); code != 403 {
		t.Fatalf("forged BYE answered %d, want 403", code)
	}
	// Nothing moved: the agent heard of no re-INVITE, the attacker's media
	// socket gets nothing while both parties keep talking.
	for _, r := range agent.InDialog() {
		t.Fatalf("agent received %s: the forged request went through", r.Method)
	}
	_ = media.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, src, err := media.ReadFromUDPAddrPort(make([]byte, 2048)); err == nil {
		t.Fatalf("attacker's media socket got %d bytes from %v", n, src)
	}
	as.RTP.Clear()
	cs.RTP.Clear()
	expectHears(t, "agent", as, toneCustomer)
	expectHears(t, "customer", cs, toneAgent)
	if n := e.app.SIP.Stats().Refused["dialog_peer"]; n != 2 {
		t.Fatalf("refused dialog_peer = %d, want 2", n)
	}
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatalf("the real caller's BYE: %v", err)
	}
	waitEnded(t, "agent", as)
}

// TestMediaReflectorRefused: SDP that points earshot's media at a
// broadcast, multicast or link-local (cloud metadata) address, or at a
// privileged port, is answered 488 before anything is relayed.
func TestMediaReflectorRefused(t *testing.T) {
	e := start(t, testConfig(t))
	e.agent("1001", "127.0.0.13", toneAgent)
	for _, target := range []struct {
		ip   string
		port int
	}{
		{"255.255.255.255", 40000},
		{"224.0.0.1", 40000},
		{"169.254.169.254", 40000},
		{"0.1.2.3", 40000},
		{"127.0.0.1", 22},
	} {
		if code := rawInvite(t, e.udp(), sdpFrom(target.ip, target.port)); code != 488 {
			t.Errorf("SDP to %s:%d answered %d, want 488", target.ip, target.port, code)
		}
	}
	if st := e.app.Media.Stats(); st.RTPPackets != 0 || st.Dropped.WriteError != 0 {
		t.Fatalf("media sent: %+v", st)
	}
}
