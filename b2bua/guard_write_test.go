package b2bua

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the connection; with gate
// set, the first one waits for gate to close.
type countingConn struct {
	net.Conn
	writes atomic.Int64
	gate   chan struct{}
}

func (c *countingConn) Write(b []byte) (int, error) {
	if c.writes.Add(1) == 1 && c.gate != nil {
		<-c.gate
	}
	return c.Conn.Write(b)
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// streamMessage is a SIP response of about the size of a 200 with SDP,
// numbered in its CSeq.
func streamMessage(n int) []byte {
	body := bytes.Repeat([]byte("v=0 o=- 1 1 IN IP4 127.0.0.1\r\n"), 8)
	return fmt.Appendf(nil, "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bK-%d\r\nCSeq: %d INVITE\r\nContent-Length: %d\r\n\r\n%s",
		n, n, len(body), body)
}

// TestStreamWritesBatched: while one write is in progress (held in the
// socket), the messages 31 other goroutines write meanwhile wait, then
// go out together in one write, each whole.
func TestStreamWritesBatched(t *testing.T) {
	server, client := tcpPair(t)
	cc := &countingConn{Conn: server, gate: make(chan struct{})}
	gc := &guardConn{Conn: cc}
	const writers = 32
	var wg sync.WaitGroup
	write := func(n int) {
		defer wg.Done()
		msg := streamMessage(n)
		if got, err := gc.Write(msg); err != nil || got != len(msg) {
			t.Errorf("write %d: %d bytes, %v; want %d", n, got, err, len(msg))
		}
	}
	wg.Add(1)
	go write(0)
	for cc.writes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for n := 1; n < writers; n++ {
		wg.Add(1)
		go write(n)
	}
	// All 31 queued behind the held write, in one batch.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		queued := 0
		if gc.wmu.TryLock() { // held across a write, it would never be had
			if gc.queued != nil {
				queued = bytes.Count(gc.queued.buf, []byte("SIP/2.0 200 OK"))
			}
			gc.wmu.Unlock()
		}
		if queued == writers-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages queued behind the held write, want %d", queued, writers-1)
		}
	}
	close(cc.gate)
	wg.Wait()
	if w := cc.writes.Load(); w != 2 {
		t.Errorf("%d messages went out in %d writes to the socket, want 2 (the held one, then the batch)", writers, w)
	}
	readAll(t, client, writers, 1)
}

// TestStreamWritesWhole: many goroutines writing messages at once to one
// stream connection. Every message arrives once, whole, never
// interleaved with another, and each writer's own messages in the order
// it wrote them.
func TestStreamWritesWhole(t *testing.T) {
	server, client := tcpPair(t)
	cc := &countingConn{Conn: server}
	gc := &guardConn{Conn: cc}
	const writers, each = 32, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := streamMessage(w*each + i)
				if n, err := gc.Write(msg); err != nil || n != len(msg) {
					t.Errorf("write %d: %d bytes, %v; want %d", w*each+i, n, err, len(msg))
					return
				}
			}
		}()
	}
	readAll(t, client, writers, each)
	wg.Wait()
	t.Logf("%d messages in %d writes to the socket", writers*each, cc.writes.Load())
}

// readAll reads writers*each streamMessages from client: each once, whole,
// and writer w's (numbered w*each+i) in the order of i.
func readAll(t *testing.T, client net.Conn, writers, each int) {
	t.Helper()
	seen := make([]bool, writers*each)
	last := make([]int, writers)
	for i := range last {
		last[i] = -1
	}
	client.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(client)
	for range writers * each {
		n, err := readStreamMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		if n < 0 || n >= len(seen) || seen[n] {
			t.Fatalf("message %d arrived twice or was never written", n)
		}
		seen[n] = true
		w, i := n/each, n%each
		if i <= last[w] {
			t.Fatalf("writer %d: message %d arrived after %d", w, i, last[w])
		}
		last[w] = i
	}
}

// readStreamMessage reads one streamMessage and returns its number,
// checking that it is byte for byte the message of that number.
func readStreamMessage(r *bufio.Reader) (int, error) {
	var head bytes.Buffer
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return 0, err
		}
		head.Write(line)
		if string(line) == "\r\n" {
			break
		}
	}
	_, cseq, ok := bytes.Cut(head.Bytes(), []byte("CSeq: "))
	if !ok {
		return 0, fmt.Errorf("no CSeq in %q", head.Bytes())
	}
	num, _, _ := bytes.Cut(cseq, []byte(" "))
	n, err := strconv.Atoi(string(num))
	if err != nil {
		return 0, fmt.Errorf("CSeq %q: %v", num, err)
	}
	want := streamMessage(n)
	got := make([]byte, len(want))
	copy(got, head.Bytes())
	if _, err := io.ReadFull(r, got[head.Len():]); err != nil {
		return 0, err
	}
	if !bytes.Equal(got, want) {
		return 0, fmt.Errorf("message %d arrived as %q", n, got)
	}
	return n, nil
}

// TestStreamWriteError: a write to a closed connection reports the
// error to its writer.
func TestStreamWriteError(t *testing.T) {
	server, _ := tcpPair(t)
	gc := &guardConn{Conn: server}
	server.Close()
	if n, err := gc.Write(streamMessage(1)); err == nil || n != 0 {
		t.Fatalf("write after close: %d bytes, %v; want 0 and an error", n, err)
	}
}

// BenchmarkStreamWriteParallel: the SIP stack's goroutines writing their
// messages to one stream connection at once (a trunk over TCP or TLS
// carries every call on one), the far end reading as fast as it can.
// socket-writes/op is the share of messages that took a write of their
// own.
func BenchmarkStreamWriteParallel(b *testing.B) {
	server, client := tcpPair(b)
	go io.Copy(io.Discard, client)
	cc := &countingConn{Conn: server}
	gc := &guardConn{Conn: cc}
	msg := streamMessage(1)
	b.SetParallelism(64)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := gc.Write(msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(cc.writes.Load())/float64(b.N), "socket-writes/op")
}
