package b2bua

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func testGuard(t *testing.T, lim Limits, clk *testClock) (*guard, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	trunk := netip.MustParseAddr("192.0.2.1")
	g := newGuard(lim, clk.Now, func(ip netip.Addr) bool { return ip == trunk }, slog.New(slog.NewTextHandler(&logs, nil)), newSIPStats())
	return g, &logs
}

func udpFrom(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 5060} }

func TestGuardRateLimitsPerSourceAndMethod(t *testing.T) {
	clk := newTestClock()
	g, logs := testGuard(t, Limits{InviteRate: 10, OptionsRate: 2}, clk)
	invite := []byte("INVITE sip:100@x SIP/2.0\r\n")
	flooder, other := udpFrom("198.51.100.7"), udpFrom("198.51.100.8")
	passed := 0
	for range 100 {
		if g.admit(flooder, invite) {
			passed++
		}
	}
	if passed != 20 { // the burst: twice the rate
		t.Fatalf("%d of 100 INVITEs passed at once, want the burst of 20", passed)
	}
	// Another source, another method, responses and other requests are
	// not affected.
	for _, d := range []struct {
		from net.Addr
		msg  string
	}{{other, "INVITE sip:100@x SIP/2.0"}, {flooder, "OPTIONS sip:x SIP/2.0"}, {flooder, "SIP/2.0 200 OK"}, {flooder, "BYE sip:x SIP/2.0"}} {
		if !g.admit(d.from, []byte(d.msg)) {
			t.Fatalf("%q from %v refused", d.msg, d.from)
		}
	}
	// The rate refills: a second later, 10 more.
	clk.Advance(time.Second)
	passed = 0
	for range 100 {
		if g.admit(flooder, invite) {
			passed++
		}
	}
	if passed != 10 {
		t.Fatalf("%d passed a second later, want 10", passed)
	}
	// A trunk is never limited.
	for range 1000 {
		if !g.admit(udpFrom("192.0.2.1"), invite) {
			t.Fatal("a trunk source was limited")
		}
	}
	if n := g.stats.refused[string(RefusedRateLimit)]; n != 170 {
		t.Fatalf("rate_limit refusals %d, want 170", n)
	}
	// One security line per source per logEvery, fail2ban-readable.
	if n := strings.Count(logs.String(), `reason=rate_limit src=198.51.100.7`); n != 1 {
		t.Fatalf("%d log lines for the flooder:\n%s", n, logs.String())
	}
}

func TestGuardBansAfterAuthFailures(t *testing.T) {
	clk := newTestClock()
	g, logs := testGuard(t, Limits{AuthFailures: 3, AuthWindow: time.Minute, BanTime: 10 * time.Minute}, clk)
	reg := []byte("REGISTER sip:x SIP/2.0\r\n")
	g.authFailed("198.51.100.7:5060")
	g.authFailed("198.51.100.7:5060")
	clk.Advance(2 * time.Minute) // the window passed: the count starts again
	g.authFailed("198.51.100.7:5060")
	g.authFailed("198.51.100.7:5060")
	if !g.admit(udpFrom("198.51.100.7"), reg) {
		t.Fatal("banned before the third failure within the window")
	}
	g.authFailed("198.51.100.7:5060")
	if g.admit(udpFrom("198.51.100.7"), reg) || g.admit(udpFrom("198.51.100.7"), []byte("SIP/2.0 200 OK")) {
		t.Fatal("a banned source got through")
	}
	if !g.admit(udpFrom("198.51.100.8"), reg) {
		t.Fatal("another source was banned")
	}
	if !strings.Contains(logs.String(), `msg="security: source banned" reason=auth_failures src=198.51.100.7 ban_seconds=600`) {
		t.Fatalf("no ban line:\n%s", logs.String())
	}
	clk.Advance(10 * time.Minute)
	if !g.admit(udpFrom("198.51.100.7"), reg) {
		t.Fatal("still banned after ban_time")
	}
	// Trunks are never banned.
	for range 10 {
		g.authFailed("192.0.2.1:5060")
	}
	if g.banned(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("a trunk was banned")
	}
}

func TestGuardTableIsBounded(t *testing.T) {
	clk := newTestClock()
	g, _ := testGuard(t, Limits{}, clk)
	msg := []byte("OPTIONS sip:x SIP/2.0\r\n")
	for i := range maxSources + 10 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		g.admit(&net.UDPAddr{IP: ip.AsSlice(), Port: 5060}, msg)
	}
	if n := len(g.sources); n > maxSources {
		t.Fatalf("%d sources tracked, bound %d", n, maxSources)
	}
	// Quiet sources are swept to make room.
	clk.Advance(2 * time.Minute)
	g.admit(udpFrom("198.51.100.99"), msg)
	if _, ok := g.sources[netip.MustParseAddr("198.51.100.99")]; !ok || len(g.sources) > maxSources {
		t.Fatalf("new source not tracked after the sweep (%d sources)", len(g.sources))
	}
}

func TestGuardListenerCapsAndTimesOut(t *testing.T) {
	g := newGuard(Limits{TCPConnections: 2, TCPHeaderTimeout: 200 * time.Millisecond}, time.Now,
		func(netip.Addr) bool { return false }, slog.New(slog.DiscardHandler), newSIPStats())
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := guardListener{raw, g, false}
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	a, b := <-accepted, <-accepted
	// The third is closed on accept: its read ends.
	clients[2].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := clients[2].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: %v, want EOF", err)
	}
	// A connection that completes its header block lives on; one that
	// never does is cut at the header timeout.
	if _, err := clients[0].Write([]byte("OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r")); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].Write([]byte("\n")); err != nil { // the boundary split across reads
		t.Fatal(err)
	}
	clients[1].Write([]byte("OPTIONS sip:x SIP/2.0\r\nVia: x"))
	buf := make([]byte, 512)
	first := "OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n"
	got := 0
	for got < len(first) {
		n, err := a.Read(buf)
		if err != nil {
			t.Fatalf("framed connection: %v after %d bytes", err, got)
		}
		got += n
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(buf) // idle, not timed out (idle timeout 2h)
		done <- err
	}()
	if _, err := b.Read(buf); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.Read(buf); err == nil {
		t.Fatal("the slow connection was not cut")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cut after %v", d)
	}
	select {
	case err := <-done:
		t.Fatalf("framed connection cut: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// Closing gives the place back.
	b.Close()
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("a new connection was not accepted after one closed")
	}
	a.Close()
}

// FuzzGuardDatagram: whatever arrives, the guard's read filter never
// panics, never returns an error for UDP (that would stop the listener),
// and passes either nothing or the datagram as the rewrites leave it (a
// foreign SIP version marked, blanks before colons tightened; nothing
// else).
func FuzzGuardDatagram(f *testing.F) {
	f.Add([]byte("INVITE sip:100@x SIP/2.0\r\n"), byte(7))
	f.Add([]byte("SIP/2.0 200 OK\r\n"), byte(1))
	f.Add([]byte{0, 1, 2}, byte(0))
	clk := newTestClock()
	g := newGuard(Limits{InviteRate: 1, RegisterRate: 1, OptionsRate: 1, AuthFailures: 2}, clk.Now,
		func(ip netip.Addr) bool { return ip == netip.MustParseAddr("192.0.2.1") }, slog.New(slog.DiscardHandler), newSIPStats())
	f.Fuzz(func(t *testing.T, data []byte, host byte) {
		from := &net.UDPAddr{IP: net.IPv4(198, 51, 100, host), Port: 5060}
		props := sip.TransportReadProps{Transport: "udp", RemoteAddr: from}
		out, err := g.readFilter(props, data)
		if err != nil {
			t.Fatalf("UDP read filter returned %v", err)
		}
		if out != nil && !bytes.Equal(out, tightenColons(markVersion(data))) {
			t.Fatalf("the filter turned %q into %q", data, out)
		}
		if host%3 == 0 {
			g.authFailed(from.String())
		}
		clk.Advance(time.Duration(host) * time.Millisecond)
	})
}
