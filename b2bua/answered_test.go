package b2bua

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const (
	keyBye = "BYE sip:a@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.2:5060;rport;branch=z9hG4bK-bye1\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-below\r\n" +
		"From: <sip:b@127.0.0.2>;tag=f\r\nTo: <sip:a@127.0.0.1>;tag=t\r\n" +
		"Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	keyBye200 = "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.2:5060;rport=5060;received=127.0.0.2;branch=z9hG4bK-bye1\r\n" +
		"From: <sip:b@127.0.0.2>;tag=f\r\nTo: <sip:a@127.0.0.1>;tag=t\r\n" +
		"Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
)

// TestTransactionKey: the key of a request and of the response to it are
// the same; what the scan cannot be sure of is refused.
func TestTransactionKey(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		key       string // "" when refused
		status    int
	}{
		{"request", keyBye, "BYE z9hG4bK-bye1", 0},
		{"its response", keyBye200, "BYE z9hG4bK-bye1", 200},
		{"compact Via, spaces", "OPTIONS sip:a SIP/2.0\r\nv : SIP/2.0/UDP h ; branch = z9hG4bKx1 ,SIP/2.0/UDP g;branch=z9hG4bKx2\r\nCSeq: 1 OPTIONS\r\n\r\n", "OPTIONS z9hG4bKx1", 0},
		{"bare LF", "OPTIONS sip:a SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx1\nCSeq: 1 OPTIONS\n\n", "", 0},
		{"not a request line", "SIP 0 0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx1\r\n\r\n", "", 0},
		{"Via without sent-by", "BYE sip:a SIP/2.0\r\nVia: ;branch=z9hG4bKx1\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"method not a method", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx1\r\nCSeq: 1 0\r\n\r\n", "", 0},
		{"provisional to INVITE", "SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKi\r\n\r\n", "INVITE z9hG4bKi", 180},
		{"ACK", "ACK sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKi\r\nCSeq: 1 ACK\r\n\r\n", "", 0},
		{"RFC 2543 branch", "BYE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1234\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"bare cookie", "BYE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"no branch", "BYE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"no Via", "BYE sip:a SIP/2.0\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"top Via folded before its branch", "BYE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bKf\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"quote in the top Via", "BYE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;x=\"a;branch=z9hG4bKq\";branch=z9hG4bKr\r\n\r\n", "", 0},
		{"response without CSeq", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKn\r\n\r\n", "", 0},
		{"bad status", "SIP/2.0 20x OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKn\r\nCSeq: 1 BYE\r\n\r\n", "", 0},
		{"no line end", "BYE sip:a SIP/2.0", "", 0},
		{"header without colon", "BYE sip:a SIP/2.0\r\nVia SIP/2.0/UDP h;branch=z9hG4bKn\r\n\r\n", "", 0},
	} {
		key, status, ok := transactionKey(nil, []byte(tc.msg))
		if ok != (tc.key != "") || ok && (string(key) != tc.key || status != tc.status) {
			t.Errorf("%s: key %q status %d ok %v, want %q %d", tc.name, key, status, ok, tc.key, tc.status)
		}
	}
}

// FuzzTransactionKey: never a panic, and a key given agrees with what the
// SIP stack's parser reads from the same message: its method and the
// branch of its top Via.
func FuzzTransactionKey(f *testing.F) {
	f.Add([]byte(keyBye))
	f.Add([]byte(keyBye200))
	f.Add([]byte("SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h;branch=z9hG4bKi\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, status, ok := transactionKey(nil, data)
		if !ok {
			return
		}
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return // the stack refuses it: it is never answered
		}
		var method string
		var via *sip.ViaHeader
		switch m := msg.(type) {
		case *sip.Request:
			method, via = string(m.Method), m.Via()
		case *sip.Response:
			if m.CSeq() == nil || m.StatusCode != status {
				t.Fatalf("status %d, the parser's %d (CSeq %v)", status, m.StatusCode, m.CSeq())
			}
			method, via = string(m.CSeq().MethodName), m.Via()
		}
		if via == nil {
			t.Fatalf("key %q, the parser found no Via", key)
		}
		branch, _ := via.Params.Get("branch")
		if want := method + " " + branch; string(key) != want {
			t.Fatalf("key %q, the parser's %q", key, want)
		}
	})
}

// TestAnsweredRetransmissions: within the linger a retransmitted request
// gets its final response again, byte for byte, from the socket it left
// by — an INVITE answered 3xx–6xx too; a retransmitted INVITE answered
// 2xx is dropped; nothing else is kept (a provisional response, a
// request), nor answered from another address or after the linger.
func TestAnsweredRetransmissions(t *testing.T) {
	srv := listenUDP(t)
	peer, other := listenUDP(t), listenUDP(t)
	now := time.Unix(1000, 0)
	a := newAnswered(2*time.Second, func() time.Time { return now }, newSIPStats())
	conn := answeringConn{srv, a}

	if _, err := conn.WriteTo([]byte(keyBye200), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{
		"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKi1\r\nCSeq: 1 INVITE\r\n\r\n",
		"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKi2\r\nCSeq: 1 INVITE\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKi3\r\nCSeq: 1 INVITE\r\n\r\n",
		"INVITE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKr1\r\nCSeq: 1 INVITE\r\n\r\n",
	} {
		if _, err := conn.WriteTo([]byte(r), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.kept.len(); n != 3 {
		t.Fatalf("%d answers kept, want 3 (the BYE's 200, the INVITEs' 486 and 2xx)", n)
	}
	drain(peer)

	if !a.answer([]byte(keyBye), peer.LocalAddr()) {
		t.Fatal("retransmitted BYE not answered")
	}
	if got := readUDP(t, peer); got != keyBye200 {
		t.Fatalf("answer to the retransmission:\n%s\nwant:\n%s", got, keyBye200)
	}
	invite := func(branch string) []byte {
		return []byte("INVITE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=" + branch + "\r\nCSeq: 1 INVITE\r\n\r\n")
	}
	if !a.answer(invite("z9hG4bKi3"), peer.LocalAddr()) {
		t.Fatal("INVITE answered 2xx not absorbed")
	}
	if !a.answer(invite("z9hG4bKi2"), peer.LocalAddr()) {
		t.Fatal("INVITE answered 486 not answered")
	}
	if got := readUDP(t, peer); !strings.HasPrefix(got, "SIP/2.0 486 Busy Here\r\n") {
		t.Fatalf("answer to the retransmitted INVITE:\n%s\nwant the 486 again", got)
	}
	for _, b := range []string{"z9hG4bKi1", "z9hG4bKr1"} {
		if a.answer(invite(b), peer.LocalAddr()) {
			t.Fatalf("INVITE %s taken, but it was not answered (a 1xx, or a request sent)", b)
		}
	}
	if a.answer([]byte(keyBye), other.LocalAddr()) {
		t.Fatal("a BYE with the same branch from another address answered")
	}
	if a.answer([]byte(keyBye200), peer.LocalAddr()) {
		t.Fatal("a response taken for a retransmitted request")
	}
	if st := a.stats.retrans; st[RetransAnswered] != 2 || st[RetransAbsorbed] != 1 {
		t.Fatalf("counted %v, want two answered and one absorbed", st)
	}

	now = now.Add(2 * time.Second)
	if a.answer([]byte(keyBye), peer.LocalAddr()) || a.answer(invite("z9hG4bKi3"), peer.LocalAddr()) {
		t.Fatal("answered after the linger")
	}
	if _, err := conn.WriteTo([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteTo([]byte(strings.Replace(keyBye200, "bye1", "bye2", 1)), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if n := a.kept.len(); n != 1 {
		t.Fatalf("%d answers kept after the linger and one more, want 1", n)
	}
}

// TestAnsweredOrderCompacts: answers leave when their linger ends, and
// the expiry queue does not grow with the answers that came and went.
func TestAnsweredOrderCompacts(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAnswered(time.Second, func() time.Time { return now }, newSIPStats())
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5060}
	for i := range 10000 {
		now = now.Add(time.Millisecond)
		a.sent(nil, []byte(strings.Replace(keyBye200, "bye1", "b"+strconv.Itoa(i), 1)), to)
	}
	l := a.kept
	l.mu.Lock()
	defer l.mu.Unlock()
	// One every millisecond for a second's linger: the last 1,000.
	if len(l.byKey) != 1000 || len(l.order)-l.head != 1000 {
		t.Fatalf("%d kept, %d queued, want the 1,000 of the last second", len(l.byKey), len(l.order)-l.head)
	}
	if len(l.order) > 4096 {
		t.Fatalf("queue of %d (%d done) for 1,000 live answers: never compacted", len(l.order), l.head)
	}
}

// BenchmarkAnsweredMiss is the cost to every request datagram that is not
// a retransmission: a scan and a lookup, no allocation.
func BenchmarkAnsweredMiss(b *testing.B) {
	a := newAnswered(time.Second, time.Now, newSIPStats())
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5060}
	msg := []byte(keyBye)
	b.ReportAllocs()
	for b.Loop() {
		if a.answer(msg, from) {
			b.Fatal("answered")
		}
	}
}

func listenUDP(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func readUDP(t *testing.T, pc net.PacketConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// drain reads what is waiting on pc.
func drain(pc net.PacketConn) {
	buf := make([]byte, 4096)
	for {
		pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return
		}
	}
}

// endedTx is a server transaction that only records that it was ended.
type endedTx struct {
	sip.ServerTransaction
	ended bool
}

func (tx *endedTx) Terminate() { tx.ended = true }

// TestAnsweredAgain: an INVITE the SIP stack took for a new transaction
// although it was answered within the linger — a retransmission whose
// goroutine ran after the ACK had ended its transaction — gets the same
// 503 again, byte for byte, or for a 2xx nothing, and the stack's new
// transaction is ended; from another address, over another transport, or
// with a branch never answered, it is a new request.
func TestAnsweredAgain(t *testing.T) {
	srv, peer, other := listenUDP(t), listenUDP(t), listenUDP(t)
	now := time.Unix(1000, 0)
	a := newAnswered(2*time.Second, func() time.Time { return now }, newSIPStats())
	conn := answeringConn{srv, a}
	const refused = "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx503\r\nTo: <sip:a>;tag=t1\r\nCSeq: 1 INVITE\r\nRetry-After: 5\r\n\r\n"
	for _, r := range []string{refused,
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx200\r\nCSeq: 1 INVITE\r\n\r\n"} {
		if _, err := conn.WriteTo([]byte(r), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	drain(peer)
	invite := func(branch string, from net.Addr, transport string) *sip.Request {
		req := sipRequest(t, "INVITE", "sip:a@h", "Via: SIP/2.0/"+transport+" h;branch="+branch)
		req.SetSource(from.String())
		req.SetTransport(transport)
		return req
	}

	tx := &endedTx{}
	if !a.again(invite("z9hG4bKx503", peer.LocalAddr(), "UDP"), tx) || !tx.ended {
		t.Fatalf("refused INVITE again: taken for new (transaction ended %v)", tx.ended)
	}
	if got := readUDP(t, peer); got != refused {
		t.Fatalf("answer:\n%s\nwant the 503 again:\n%s", got, refused)
	}
	tx = &endedTx{}
	if !a.again(invite("z9hG4bKx200", peer.LocalAddr(), "UDP"), tx) || !tx.ended {
		t.Fatal("INVITE answered 2xx again: taken for new")
	}
	for name, req := range map[string]*sip.Request{
		"another address":   invite("z9hG4bKx503", other.LocalAddr(), "UDP"),
		"another transport": invite("z9hG4bKx503", peer.LocalAddr(), "TCP"),
		"a new branch":      invite("z9hG4bKnew", peer.LocalAddr(), "UDP"),
		"no magic cookie":   invite("x503", peer.LocalAddr(), "UDP"),
	} {
		tx := &endedTx{}
		if a.again(req, tx) || tx.ended {
			t.Fatalf("%s: taken as a retransmission", name)
		}
	}
	if st := a.stats.retrans; st[RetransAnswered] != 1 || st[RetransAbsorbed] != 1 {
		t.Fatalf("counted %v, want one answered and one absorbed", st)
	}
	quietPacket(t, peer)
}

// quietPacket fails the test if pc receives anything within 100 ms.
func quietPacket(t *testing.T, pc net.PacketConn) {
	t.Helper()
	buf := make([]byte, 4096)
	pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := pc.ReadFrom(buf); err == nil {
		t.Fatalf("unexpected datagram:\n%s", buf[:n])
	}
}
