package b2bua

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"time"
)

// guardListener applies the guard to stream connections: a banned
// address, or one past its connection cap, is closed on accept; the
// others are wrapped so that a connection must deliver its first
// complete header block within TCPHeaderTimeout and is closed after
// TCPIdleTimeout of silence (the slow-header attack holds a connection
// open without ever finishing a message).
//
// frame puts a SIP stream framer (framer.go) on each connection's read
// side: set for TCP and TLS, whose bytes are SIP messages back to back;
// not for WebSocket, whose SIP messages travel in WebSocket frames.
type guardListener struct {
	net.Listener
	g     *guard
	frame bool
}

// Accept returns the next connection the guard lets in.
func (l guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrIP(c.RemoteAddr())
		if ip.IsValid() && !l.g.connOpened(ip) {
			c.Close()
			continue
		}
		gc := &guardConn{Conn: c, g: l.g, ip: ip, opened: l.g.now()}
		if l.frame {
			gc.framer = newStreamFramer(readerFunc(gc.readRaw), gc.answer, l.g.stats)
			gc.framer.linger = framingLinger
			// Framed, a stream's requests meet the same per-source rate
			// limits as datagrams (a flood over one connection is no
			// longer bounded only by the connection cap).
			remote := c.RemoteAddr()
			gc.framer.admit = func(head []byte) bool { return l.g.admit(remote, head) }
		}
		return gc, nil
	}
}

// connOpened counts a new connection from ip and reports whether it may
// stay: not banned, within the cap. Trunk sources are exempt unless
// trunks are limited.
func (g *guard) connOpened(ip netip.Addr) bool {
	if g.exempt(ip) {
		return true
	}
	now := g.now()
	g.mu.Lock()
	src := g.lookup(ip, now)
	ok := src == nil || (!now.Before(src.banned) && src.conns < g.lim.TCPConnections)
	if ok && src != nil {
		src.conns++
	}
	logIt := !ok && now.Sub(src.logged) >= logEvery
	if logIt {
		src.logged = now
	}
	g.mu.Unlock()
	if !ok {
		g.stats.refuse(RefusedConnections)
		if logIt {
			g.log.Warn("security: request refused", "reason", string(RefusedConnections), "src", ip.String(),
				"method", "connect", "call_id", "")
		}
	}
	return ok
}

// connClosed forgets a connection connOpened let in.
func (g *guard) connClosed(ip netip.Addr) {
	if g.exempt(ip) {
		return
	}
	g.mu.Lock()
	if src := g.sources[ip]; src != nil && src.conns > 0 {
		src.conns--
	}
	g.mu.Unlock()
}

// guardConn is a stream connection under the guard's timeouts. Read is
// called by one goroutine (the transport's reader); Write and Close by
// anyone.
type guardConn struct {
	net.Conn
	g        *guard
	ip       netip.Addr
	opened   time.Time
	framed   bool // a complete header block (or a CRLF keep-alive) arrived
	tail     [3]byte
	tailN    int
	closeOne sync.Once
	framer   *streamFramer // nil on WebSocket connections
	// The stack writes responses and requests from its own goroutines
	// while the framer answers from the reader's; one message must go
	// out whole before the next starts (see Write).
	wmu     sync.Mutex // guards the two fields below
	writing bool       // a write is in progress
	queued  *outBatch  // messages written meanwhile, to go out next
}

// outBatch is messages written to a stream connection while another
// write was in progress, to go out together in one write by the
// goroutine that wrote the first of them (its leader).
type outBatch struct {
	buf  []byte
	turn chan struct{} // closed when the leader may write
	done chan struct{} // closed when written; err is then set
	err  error
}

// outBufs holds batch buffers for reuse; one larger than maxPooledOut
// (a burst's) is let go.
var outBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledOut = 64 << 10

// streamAnswerTimeout bounds the framer's own answers: a peer that does
// not read must not hold the connection's reader forever.
const streamAnswerTimeout = 5 * time.Second

// readerFunc makes a read method an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// Read hands the stack the next bytes: through the framer on TCP and
// TLS, as they come on WebSocket.
func (c *guardConn) Read(b []byte) (int, error) {
	if c.framer != nil {
		return c.framer.Read(b)
	}
	return c.readRaw(b)
}

// Write writes one message whole. With no write in progress it writes at
// once. Otherwise the message joins the batch queued behind that write,
// and the batch goes out in one write when the one before it is done,
// written by the goroutine that queued its first message; the others
// wait for it and get its result.
//
// One trunk over TCP or TLS carries every call on one connection. When
// each message took the connection's lock for its own write, the SIP
// stack's goroutines queued on that lock under load (thousands at once,
// at 2,500 calls/s), and Go's mutex, starved, hands itself to its
// waiters one at a time, each first waiting for a CPU: the connection
// then wrote a message per scheduling delay. Batched, the waiters of a
// batch wake together, and a burst of messages costs one system call.
func (c *guardConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	if !c.writing {
		c.writing = true
		c.wmu.Unlock()
		n, err := c.Conn.Write(b)
		c.handOver()
		return n, err
	}
	ob := c.queued
	lead := ob == nil
	if lead {
		ob = &outBatch{turn: make(chan struct{}), done: make(chan struct{})}
		ob.buf = (*outBufs.Get().(*[]byte))[:0]
		c.queued = ob
	}
	ob.buf = append(ob.buf, b...)
	c.wmu.Unlock()
	if lead {
		<-ob.turn
		_, ob.err = c.Conn.Write(ob.buf)
		if cap(ob.buf) <= maxPooledOut {
			buf := ob.buf
			outBufs.Put(&buf)
		}
		ob.buf = nil
		close(ob.done)
		c.handOver()
	}
	<-ob.done
	if ob.err != nil {
		return 0, ob.err
	}
	return len(b), nil
}

// handOver ends a write: the batch queued meanwhile, if any, is taken
// off the queue (later messages start the next one) and its leader told
// to write it; else the connection is free.
func (c *guardConn) handOver() {
	c.wmu.Lock()
	next := c.queued
	c.queued = nil
	c.writing = next != nil
	c.wmu.Unlock()
	if next != nil {
		close(next.turn)
	}
}

// answer writes a response of the framer's own, between the stack's
// writes and within streamAnswerTimeout.
func (c *guardConn) answer(res []byte) error {
	if err := c.Conn.SetWriteDeadline(c.g.now().Add(streamAnswerTimeout)); err != nil {
		return err
	}
	_, err := c.Write(res)
	// The stack sets its own deadline before its writes, if any.
	_ = c.Conn.SetWriteDeadline(time.Time{})
	return err
}

// readRaw reads with the deadline the connection's stage allows: until
// the first header block is complete, what is left of TCPHeaderTimeout
// since accept; after it, TCPIdleTimeout from now.
func (c *guardConn) readRaw(b []byte) (int, error) {
	deadline := c.g.now().Add(c.g.lim.TCPIdleTimeout)
	if !c.framed {
		deadline = c.opened.Add(c.g.lim.TCPHeaderTimeout)
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if !c.framed && n > 0 {
		c.framed = c.headerEnded(b[:n])
	}
	if err != nil && !c.framed {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			c.g.stats.refuse(RefusedConnections)
		}
	}
	return n, err
}

// headerEnded reports whether the bytes read so far hold an empty line
// (CRLFCRLF), the end of a header block; the last bytes of one read are
// kept, so a boundary split across reads is found too.
func (c *guardConn) headerEnded(p []byte) bool {
	buf := append(c.tail[:c.tailN:c.tailN], p...)
	if bytes.Contains(buf, []byte("\r\n\r\n")) {
		return true
	}
	c.tailN = copy(c.tail[:], buf[max(0, len(buf)-3):])
	return false
}

// Close closes the connection and releases its place in the cap.
func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.closeOne.Do(func() {
		if c.ip.IsValid() {
			c.g.connClosed(c.ip)
		}
	})
	return err
}
