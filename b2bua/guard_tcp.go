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
	// wmu guards writing: the stack writes responses and requests from
	// its own goroutines while the framer answers from the reader's; one
	// message must go out whole before the next starts.
	wmu sync.Mutex
}

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

// Write writes one message whole (see wmu).
func (c *guardConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(b)
}

// answer writes a response of the framer's own, between the stack's
// writes and within streamAnswerTimeout.
func (c *guardConn) answer(res []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.Conn.SetWriteDeadline(c.g.now().Add(streamAnswerTimeout)); err != nil {
		return err
	}
	_, err := c.Conn.Write(res)
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
