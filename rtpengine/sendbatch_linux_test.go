//go:build !386

package rtpengine

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// newTestBatch is a sendBatch, or nil when this kernel refuses io_uring
// (said in the test's output; TestIOUringModes checks that fallback).
func newTestBatch(t *testing.T) *sendBatch {
	t.Helper()
	b, err := newSendBatch(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Logf("io_uring unavailable here (%v): the batch is not tested, the engine sends each frame on its own", err)
		return nil
	}
	t.Cleanup(b.close)
	return b
}

func testSock(t testing.TB) *udpSock {
	t.Helper()
	u, err := listenUDP("udp4", netip.AddrPortFrom(loopback, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// A batch sends every queued frame, each from its own socket, in order,
// sends mid-tick when it is full, skips (and counts) a frame whose socket
// closed before the flush, and refuses at once an address the socket's
// family cannot reach.
func TestSendBatch(t *testing.T) {
	b := newTestBatch(t)
	if b == nil {
		return
	}
	rx := listen(t)
	if err := rx.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	to := addrOf(rx)
	socks := []*udpSock{testSock(t), testSock(t), testSock(t)}
	closed := testSock(t)
	s, out := &Session{}, &outStream{}
	const frames = sendBatchSize + 10 // one flush when full, one after
	pkts := make([][]byte, frames)
	for i := range pkts {
		pkts[i] = make([]byte, 172)
		binary.BigEndian.PutUint32(pkts[i], uint32(i))
		s.countRelayed(&s.counters.rtpPackets, Caller, len(pkts[i]))
		s.counters.mixerOut.Add(1)
		if err := b.add(socks[i%len(socks)], out, pkts[i], to, s, Caller, true); err != nil {
			t.Fatal(err)
		}
	}
	s.countRelayed(&s.counters.rtpPackets, Caller, 172)
	s.counters.mixerOut.Add(1)
	if err := b.add(closed, out, pkts[0], to, s, Caller, true); err != nil {
		t.Fatal(err)
	}
	if err := b.add(socks[0], out, pkts[0], netip.MustParseAddrPort("[2001:db8::1]:4000"), s, Caller, true); err == nil {
		t.Fatal("an IPv6 destination from an IPv4 socket was queued")
	}
	closed.Close()
	if out.queuedIn.Load() != b {
		t.Fatal("the stream is not marked as having frames queued")
	}
	b.flush()
	if out.queuedIn.Load() != nil {
		t.Fatal("the stream is still marked as queued after the flush")
	}

	buf := make([]byte, 1500)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i := range frames {
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got := binary.BigEndian.Uint32(buf); n != 172 || got != uint32(i) {
			t.Fatalf("frame %d: got frame %d of %d bytes", i, got, n)
		}
		if want := socks[i%len(socks)]; from.Port() != localPort(t, want) {
			t.Fatalf("frame %d came from port %d, want %d", i, from.Port(), localPort(t, want))
		}
	}
	rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := rx.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatal("a frame from the closed socket arrived")
	}
	if got := s.counters.dropWrite.Load(); got != 1 {
		t.Fatalf("write drops %d, want 1 (the closed socket's frame)", got)
	}
	// A batch of one is sent with a plain sendto, with the same rules.
	s.countRelayed(&s.counters.rtpPackets, Caller, 172)
	s.counters.mixerOut.Add(1)
	if err := b.add(closed, out, pkts[0], to, s, Caller, true); err != nil {
		t.Fatal(err)
	}
	b.flush()
	if got := s.counters.dropWrite.Load(); got != 2 || out.queuedIn.Load() != nil {
		t.Fatalf("a lone frame on a closed socket: write drops %d, want 2; queued in %p", got, out.queuedIn.Load())
	}
	if got := s.counters.mixerOut.Load(); got != frames {
		t.Fatalf("mixer frames counted %d, want %d sent", got, frames)
	}
	if got := s.counters.rtpPackets[Caller].Load(); got != frames {
		t.Fatalf("packets to the caller counted %d, want %d", got, frames)
	}
}

func localPort(t *testing.T, u *udpSock) uint16 {
	t.Helper()
	sa, err := syscall.Getsockname(u.fd)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(sa.(*syscall.SockaddrInet4).Port)
}

// Queuing and sending a tick's frames allocates nothing.
func TestSendBatchNoAllocs(t *testing.T) {
	b := newTestBatch(t)
	if b == nil {
		return
	}
	rx := listen(t)
	to := addrOf(rx)
	socks := []*udpSock{testSock(t), testSock(t)}
	s, out := &Session{}, &outStream{}
	pkt := make([]byte, 172)
	if n := testing.AllocsPerRun(100, func() {
		for _, u := range socks {
			if err := b.add(u, out, pkt, to, s, Caller, true); err != nil {
				t.Fatal(err)
			}
		}
		b.flush()
	}); n != 0 {
		t.Fatalf("%v allocations per tick", n)
	}
}

// BenchmarkMixerSends500 is one mixer tick's sends for 500 legs, each
// frame from its own socket to its own phone socket over loopback: one
// sendto per frame against the worker's io_uring batch. The phones'
// sockets have small buffers and are never read, as in the load test, so
// the kernel delivers and then drops. Reported per frame.
func BenchmarkMixerSends500(b *testing.B) {
	const legs = 500
	socks := make([]*udpSock, legs)
	dsts := make([]netip.AddrPort, legs)
	for i := range socks {
		socks[i] = testSock(b)
		ph := listen(b)
		if err := ph.SetReadBuffer(4096); err != nil {
			b.Fatal(err)
		}
		dsts[i] = addrOf(ph)
	}
	pkt := make([]byte, 172)
	s, out := &Session{}, &outStream{}
	b.Run("sendto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, u := range socks {
				if _, err := u.WriteToUDPAddrPort(pkt, dsts[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*legs), "ns/frame")
	})
	b.Run("io_uring", func(b *testing.B) {
		batch, err := newSendBatch(slog.New(slog.DiscardHandler))
		if err != nil {
			b.Skipf("io_uring unavailable: %v", err)
		}
		defer batch.close()
		b.ReportAllocs()
		for b.Loop() {
			for i, u := range socks {
				if err := batch.add(u, out, pkt, dsts[i], s, Caller, true); err != nil {
					b.Fatal(err)
				}
			}
			batch.flush()
		}
		if n := s.counters.dropWrite.Load(); n != 0 {
			b.Fatalf("%d sends failed", n)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*legs), "ns/frame")
	})
}
