package b2bua

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestOverloadWatch: the watch is behind only when a whole window's
// least wait is past the bound, and catches up on the first window whose
// least wait is under it.
func TestOverloadWatch(t *testing.T) {
	const ms = int64(time.Millisecond)
	t0 := time.Unix(1000, 0)
	w := newOverload(Overload{MaxDelay: 50 * time.Millisecond, Interval: 100 * time.Millisecond},
		func() time.Time { return t0 }, nil, time.Second)
	w.minReads = 1 // the table reads a datagram or two a window
	base := t0.UnixNano()
	// read at (ms after t0) a datagram that waited wait ms.
	steps := []struct {
		at, wait int64
		behind   bool
		why      string
	}{
		{10, 1, false, "a quick read"},
		{40, 300, false, "one long wait inside a window: a burst"},
		{100, 300, false, "closes the first window: its least wait was 1 ms"},
		{150, 80, false, "the window from 100 ms: waits 300, 80"},
		{200, 60, true, "closes it: least 60 ms, past 50"},
		{250, 2, true, "a quick read inside the next window changes nothing yet"},
		{300, 90, false, "closes it: least 2 ms"},
		{400, 70, true, "a window of 90 and 70"},
		{2000, 0, false, "a read after a long quiet: the empty window ends with this wait"},
		{2100, 400, false, "one read in a window, under the bound before it: least 0"},
		{2400, 300, true, "a reader stalled for a whole window: the window's only wait is long"},
	}
	for _, st := range steps {
		now := base + st.at*ms
		w.observe(now-st.wait*ms, now)
		if got := w.shed(); got != st.behind {
			t.Fatalf("at %d ms (waited %d ms): behind %v, want %v — %s", st.at, st.wait, got, st.behind, st.why)
		}
	}
	if got := w.lastWait(); got != 300*time.Millisecond {
		t.Fatalf("last window's least wait %v, want 300ms", got)
	}
	// A clock stepped back reads as no wait.
	w.observe(base+3000*ms, base+2600*ms)
	w.observe(base+2700*ms, base+2700*ms)
	if w.shed() || w.lastWait() != 0 {
		t.Fatalf("after a read stamped in the future: behind %v, least %v", w.shed(), w.lastWait())
	}

	// A window of late reads is behind only with minBehindReads of them.
	w = newOverload(Overload{MaxDelay: 50 * time.Millisecond, Interval: 100 * time.Millisecond},
		func() time.Time { return t0 }, nil, time.Second)
	late := func(at int64, n int) {
		for i := range n {
			now := base + (at+int64(i))*ms
			w.observe(now-200*ms, now)
		}
	}
	// A window counts the read that opened it (it closed the one before)
	// and the one that closes it.
	late(100, 1)                // closes the first window, empty
	late(101, minBehindReads-3) // one short
	late(200, 1)
	if w.shed() {
		t.Fatalf("behind after a window of %d late reads, want %d", minBehindReads-1, minBehindReads)
	}
	late(201, minBehindReads-2)
	late(300, 1)
	if !w.shed() {
		t.Fatalf("not behind after a window of %d late reads", minBehindReads)
	}

	var off *overload
	if off.shed() || off.lastWait() != 0 || newOverload(Overload{Disabled: true}, time.Now, nil, time.Second) != nil {
		t.Fatal("a disabled watch sheds or reports")
	}
}

// TestOverloadLogsTurns: the watch logs going behind at most once every
// logEvery, and catching up only after a turn it logged: a lasting
// overload turns every second or two.
func TestOverloadLogsTurns(t *testing.T) {
	const ms = int64(time.Millisecond)
	var buf bytes.Buffer
	t0 := time.Unix(1000, 0)
	w := newOverload(Overload{MaxDelay: 50 * time.Millisecond, Interval: 100 * time.Millisecond},
		func() time.Time { return t0 }, slog.New(slog.NewTextHandler(&buf, nil)), time.Second)
	w.minReads = 1
	base := t0.UnixNano()
	for _, st := range []struct{ at, wait int64 }{
		{100, 80}, {200, 80}, // behind: logged
		{300, 0}, {400, 0}, // caught up: logged
		{500, 80}, {600, 80}, {700, 0}, {800, 0}, // a turn 0.4 s later: neither
		{10_500, 80}, {10_600, 80}, {10_700, 0}, {10_800, 0}, // 10 s after the first: both
	} {
		now := base + st.at*ms
		w.observe(now-st.wait*ms, now)
	}
	got := buf.String()
	if b, c := strings.Count(got, "SIP input behind"), strings.Count(got, "SIP input caught up"); b != 2 || c != 2 {
		t.Fatalf("%d behind and %d caught-up lines, want 2 and 2:\n%s", b, c, got)
	}
}

// TestArrivalStamps: with receive timestamps on, a datagram read 80 ms
// after it was sent reports that wait, from the kernel's own stamp; and
// control data without a stamp, truncated or malformed, reports none.
func TestArrivalStamps(t *testing.T) {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if !stampArrivals(uc) {
		if stampSpace == 0 {
			t.Skip("no receive timestamps on this system: the watch is off (logged)")
		}
		t.Fatal("SO_TIMESTAMPNS refused")
	}
	w := newOverload(Overload{}, time.Now, nil, time.Second)
	conn := &stampingConn{UDPConn: uc, watch: w, oob: make([]byte, stampSpace)}
	tx, err := net.DialUDP("udp", nil, uc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	buf := make([]byte, 64)
	// The kernel turns receive stamps on for the first socket that asks
	// from a work queue, a moment later; until then it stamps a datagram
	// when it is read. Wait until a stamp comes before the read.
	for deadline := time.Now().Add(2 * time.Second); ; {
		if _, err := tx.Write([]byte("warm")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		_, oobn, _, _, err := uc.ReadMsgUDP(buf, conn.oob)
		read := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if at, ok := arrival(conn.oob[:oobn]); ok && read.Sub(time.Unix(0, at)) >= 5*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no stamp taken on arrival within 2 s")
		}
	}
	sent := time.Now()
	if _, err := tx.Write([]byte("OPTIONS")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	n, oobn, _, _, err := uc.ReadMsgUDP(buf, conn.oob)
	read := time.Now()
	if err != nil || string(buf[:n]) != "OPTIONS" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	at, ok := arrival(conn.oob[:oobn])
	if !ok {
		t.Fatalf("no SCM_TIMESTAMPNS in %d bytes of control data", oobn)
	}
	if arrived := time.Unix(0, at); arrived.Before(sent.Add(-time.Millisecond)) || arrived.After(sent.Add(20*time.Millisecond)) {
		t.Fatalf("arrival stamped %v after the send, want within 20 ms", arrived.Sub(sent))
	}
	if wait := read.Sub(time.Unix(0, at)); wait < 80*time.Millisecond {
		t.Fatalf("wait %v, want at least the 80 ms it sat in the socket", wait)
	}

	// Through the socket sipgo reads: the watch sees the wait.
	if _, err := tx.Write([]byte("BYE")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond) // longer than the window: this read closes it
	if _, _, err := conn.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if lw := w.lastWait(); lw < 120*time.Millisecond || lw > time.Second {
		t.Fatalf("the watch's least wait %v, want the 120 ms the datagram waited", lw)
	}

	oob := conn.oob[:oobn]
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"truncated": oob[:len(oob)-4],
		"zero len":  make([]byte, len(oob)),
		"too long":  append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, oob[8:]...),
	} {
		if _, ok := arrival(bad); ok {
			t.Errorf("%s control data read as a stamp", name)
		}
	}
}

// TestOverloadRefusesNewCalls: while the SIP input is behind, a new call
// gets 503 with Retry-After at once, before it is parsed, and is counted;
// its ACK is dropped there too, and the INVITE sent again gets the same
// 503; an INVITE the read filter cannot read for certain is refused by
// the stack; the BYE of a call already up is served; once the input
// catches up new calls are served again. The wait each datagram reports is the kernel's arrival
// stamp against the server's clock, which the test moves 300 ms ahead to
// make every read look late (a real backlog is what the bench scripts
// make; TestArrivalStamps checks the stamps themselves). With the watch
// disabled the same call is served.
func TestOverloadRefusesNewCalls(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		name := "watching"
		if disabled {
			name = "disabled"
		}
		t.Run(name, func(t *testing.T) {
			var skew atomic.Int64
			var refused []byte
			s, h := agentHarnessWith(t, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy,
				Now:      func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
				Overload: Overload{MaxDelay: 50 * time.Millisecond, Interval: 100 * time.Millisecond, Disabled: disabled}})
			if stampSpace == 0 {
				t.Skip("no receive timestamps on this system")
			}
			h.readDeadline(5 * time.Second)
			h.tos = map[int][]byte{}
			// Call 1 rings the agent before earshot falls behind.
			h.invite(1)
			h.send(h.caller, h.srv)
			msg, agentFrom := h.recv(h.agent, "INVITE ")
			ringing := bytes.Clone(msg)

			// Every read from here on looks 300 ms late: the first closes
			// the window of quick reads, the next closes a window of one
			// read, and the window after it reads minBehindReads late ones
			// and more.
			skew.Store(int64(300 * time.Millisecond))
			lateWindow := func(first int) { readWindow(h.options, first) }
			lateWindow(100)
			if st := s.Stats(); st.Behind == disabled || (!disabled && st.InputWait < 250*time.Millisecond) {
				t.Fatalf("after a window of late reads: behind %v, least wait %v", st.Behind, st.InputWait)
			}

			// Call 1's INVITE comes again (its caller retransmits): it is
			// the SIP stack's, in progress, not a new call to refuse. The
			// agent answers, and the caller gets the 200.
			h.invite(1)
			h.send(h.caller, h.srv)
			h.out = h.response(h.out[:0], ringing, 1, true)
			h.send(h.agent, agentFrom)
			ok := h.finalTo(h.caller, "INVITE")
			if !bytes.HasPrefix(ok, []byte("SIP/2.0 200 ")) {
				t.Fatalf("call 1, in progress as earshot fell behind, answered:\n%s\nwant 200", ok)
			}
			h.to = append(h.to[:0], header(ok, "To")...)
			h.tos[1] = bytes.Clone(h.to)
			h.contact = append(h.contact[:0], header(ok, "Contact")...)
			h.out = h.inDialog(h.out[:0], "ACK", 1, 1)
			h.send(h.caller, h.srv)

			// The call already up ends normally, its agent free again
			// (the 200 to the BYE leaves before the call is forgotten).
			h.hangup(1)
			waitNoCalls(t, s)
			if disabled {
				h.answer(4)
				h.hangup(4)
			} else {
				h.invite(4)
				refused = h.refused(t, 4, "new call while behind")
				// The carrier ACKs the 503: earshot sent it before the
				// parse, without a transaction, and drops the ACK itself.
				deadline := time.Now().Add(2 * time.Second)
				for s.Stats().Retransmissions[RetransACKed] != 1 {
					if time.Now().After(deadline) {
						t.Fatalf("the ACK of the 503 not dropped before the parse: %v", s.Stats().Retransmissions)
					}
					time.Sleep(10 * time.Millisecond)
				}
				// The refused INVITE again, after its ACK (a retransmission
				// that was on its way): the same 503 byte for byte, from the
				// answered table — a new refusal would carry a new To tag —
				// and no call.
				h.invite(4)
				h.send(h.caller, h.srv)
				if again := h.finalTo(h.caller, "INVITE"); !bytes.Equal(again, refused) {
					t.Fatalf("the refused INVITE again answered:\n%s\nwant the same 503:\n%s", again, refused)
				}
				h.noInvite(200 * time.Millisecond)

				// An INVITE the read filter cannot read for certain (a
				// "tag=" in its To, here a URI parameter) goes to the SIP
				// stack, which refuses it too. (A window of a few reads is
				// never behind: the traffic of a loaded machine first.)
				lateWindow(120)
				h.invite(5)
				h.out = bytes.Replace(h.out, []byte("To: <sip:100@127.0.0.1>"), []byte("To: <sip:100@127.0.0.1;tag=uri>"), 1)
				// Its ACK goes to the stack's transaction, which then stops
				// sending the 503 again.
				h.refused(t, 5, "INVITE left to the stack while behind")
			}

			// Caught up: the clock back, and once past the last window's
			// start (taken 300 ms ahead), reads that waited nothing.
			skew.Store(0)
			time.Sleep(450 * time.Millisecond)
			h.readDeadline(5 * time.Second)
			for n := range minBehindReads {
				h.options(200 + n)
			}
			time.Sleep(120 * time.Millisecond)
			h.options(300)
			if st := s.Stats(); st.Behind {
				t.Fatalf("after a window of quick reads still behind (least wait %v)", st.InputWait)
			}
			h.answer(7)
			h.hangup(7)

			want := uint64(2)
			if disabled {
				want = 0
			}
			if got := s.Stats().LoadRefused[LoadBehind]; got != want {
				t.Fatalf("calls refused as behind: %d, want %d", got, want)
			}
		})
	}
}

// refused sends the INVITE of call n in h.out, wants a 503 with
// Retry-After for it and no INVITE at the agent's phone, ACKs the 503 and
// returns it.
func (h *callHarness) refused(t *testing.T, n int, what string) []byte {
	t.Helper()
	h.send(h.caller, h.srv)
	msg := h.finalTo(h.caller, "INVITE")
	if !bytes.HasPrefix(msg, []byte("SIP/2.0 503 ")) || len(header(msg, "Retry-After")) == 0 {
		t.Fatalf("%s answered:\n%s\nwant 503 with Retry-After", what, msg)
	}
	h.noInvite(300 * time.Millisecond)
	// The ACK of a 3xx–6xx is in the INVITE's transaction: its branch.
	h.out = fmt.Appendf(h.out[:0], "ACK sip:100@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-b%dINVITE\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:+4930555@127.0.2.1>;tag=c%d\r\nTo: %s\r\nCall-ID: bench-%d\r\n"+
		"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", h.srv, h.callerAddr, n, n, header(msg, "To"), n)
	h.send(h.caller, h.srv)
	return msg
}

// noInvite fails the test if the agent's phone gets an INVITE within d.
func (h *callHarness) noInvite(d time.Duration) {
	_ = h.agent.SetReadDeadline(time.Now().Add(d))
	for {
		n, _, err := h.agent.ReadFromUDPAddrPort(h.in)
		if err != nil {
			return
		}
		if bytes.HasPrefix(h.in[:n], []byte("INVITE ")) {
			h.b.Fatalf("agent rang while new calls are refused:\n%s", h.in[:n])
		}
	}
}

// options sends the carrier's OPTIONS number n and waits for its answer.
func (h *callHarness) options(n int) {
	h.out = h.request(h.out[:0], "OPTIONS", "", n, 1)
	h.out = append(h.out, "Content-Length: 0\r\n\r\n"...)
	h.send(h.caller, h.srv)
	h.recvStatus(h.caller, "OPTIONS")
}

// readWindow has the server read three windows' worth of OPTIONS, with
// options(n) sending the nth and waiting for its answer: the first read
// closes the window open before it, the next closes a window of one read
// (too few to be behind), and the window after it holds minBehindReads
// reads and more, closed by the last. With the server's clock moved
// ahead, that last window is late all through.
func readWindow(options func(n int), first int) {
	options(first)
	time.Sleep(120 * time.Millisecond)
	for n := range minBehindReads {
		options(first + 1 + n)
	}
	time.Sleep(120 * time.Millisecond)
	options(first + 1 + minBehindReads)
}

// finalTo returns the next final response to method on c, whatever its
// status.
func (h *callHarness) finalTo(c *net.UDPConn, method string) []byte {
	for {
		msg, _ := h.recv(c, "SIP/2.0 ")
		if bytes.HasSuffix(header(msg, "CSeq"), []byte(method)) && msg[8] != '1' {
			return bytes.Clone(msg)
		}
	}
}

// BenchmarkRefusal: what a new call refused while earshot is behind costs
// it, through its UDP listener — the carrier's INVITE, earshot's 503, the
// carrier's ACK — beside BenchmarkCallSetup's whole call. The harness
// reuses its buffers, so allocs/op and B/op are the server's.
func BenchmarkRefusal(b *testing.B) {
	s := newTestServer(b, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy}, nil)
	// Always behind: every window's least wait is past a negative bound.
	s.guard.watch.maxDelay, s.guard.watch.minReads = -1, 1
	s.guard.watch.behind.Store(true)
	addrs, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}})
	if err != nil {
		b.Fatal(err)
	}
	h := newCallHarness(b, netip.MustParseAddrPort(addrs[0]))
	h.state = func() any { return s.Calls() }
	refuse := func(n int) {
		h.readDeadline(5 * time.Second)
		h.invite(n)
		h.send(h.caller, h.srv)
		var to []byte
		for {
			msg, _ := h.recv(h.caller, "SIP/2.0 ")
			if bytes.HasPrefix(msg, []byte("SIP/2.0 503 ")) {
				to = append(h.to[:0], header(msg, "To")...)
				break
			}
		}
		h.to = to
		h.out = h.request(h.out[:0], "ACK", "", n, 1)
		// The ACK of a non-2xx is in the INVITE's transaction: its branch.
		h.out = bytes.Replace(h.out, []byte("ACK\r\nMax-Forwards"), []byte("INVITE\r\nMax-Forwards"), 1)
		h.out = bytes.Replace(h.out, []byte("To: <sip:100@127.0.0.1>"), append([]byte("To: "), h.to...), 1)
		h.out = append(h.out, "Content-Length: 0\r\n\r\n"...)
		h.send(h.caller, h.srv)
	}
	refuse(0)
	b.ReportAllocs()
	b.ResetTimer()
	n := 1
	for b.Loop() {
		refuse(n)
		n++
	}
	b.StopTimer()
	if got := s.Stats().LoadRefused[LoadBehind]; got != uint64(n) {
		b.Fatalf("refused %d, want %d", got, n)
	}
}

// FuzzNewDialog: newDialog never takes a request with a To tag, as the
// SIP stack's parser reads it, for a new call's (the read filter refuses
// what it takes while behind: an in-dialog request must never be one).
func FuzzNewDialog(f *testing.F) {
	f.Add([]byte("INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: <sip:a@h>\r\nFrom: <sip:b@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte("INVITE sip:a@h SIP/2.0\r\nt: <sip:a@h>;TAG=x\r\n\r\n"))
	f.Add([]byte("INVITE sip:a@h SIP/2.0\r\nTo : sip:a@h ; tag = x\r\n\r\n"))
	f.Add([]byte("INVITE sip:a@h SIP/2.0\r\nTo: <sip:a@h>\r\n ;tag=folded\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !newDialog(data) {
			return
		}
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return // the stack refuses it anyway
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		if to := req.To(); to != nil {
			if tag, ok := to.Params.Get("tag"); ok {
				t.Fatalf("taken for a new call, but its To has tag %q:\n%q", tag, data)
			}
		}
	})
}
