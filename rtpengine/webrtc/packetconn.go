package webrtc

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// dtlsQueue bounds the DTLS records waiting for the handshake goroutine. A
// handshake flight is a handful of records; a peer that floods the port
// loses records, not memory.
const dtlsQueue = 32

// packetConn is the net.PacketConn pion/dtls runs over: records come from
// the leg's receive loop (push) and go out through the transport's Send to
// the address ICE selected. It has one peer, so addresses are ignored.
type packetConn struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	send   func(b []byte) error
	peer   func() net.Addr

	mu       sync.Mutex // guards deadline and changed
	deadline time.Time
	changed  chan struct{} // closed and replaced when the read deadline changes
}

func newPacketConn(send func([]byte) error, peer func() net.Addr) *packetConn {
	return &packetConn{in: make(chan []byte, dtlsQueue), closed: make(chan struct{}),
		send: send, peer: peer, changed: make(chan struct{})}
}

// push queues a copy of a received record; a full queue drops it (DTLS
// retransmits). It never blocks: the receive loop calls it.
func (c *packetConn) push(b []byte) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	select {
	case c.in <- append([]byte(nil), b...):
		return true
	default:
		return false
	}
}

// ReadFrom returns the next queued record.
func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		dl, changed := c.deadline, c.changed
		c.mu.Unlock()
		var expire <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expire = timer.C
		}
		select {
		case b := <-c.in:
			stop(timer)
			return copy(p, b), c.peer(), nil
		case <-c.closed:
			stop(timer)
			return 0, nil, net.ErrClosed
		case <-changed:
			stop(timer)
		case <-expire:
			return 0, nil, os.ErrDeadlineExceeded
		}
	}
}

func stop(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// WriteTo sends p to the selected peer, whatever addr says.
func (c *packetConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if err := c.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close makes reads and writes fail from now on. It is idempotent.
func (c *packetConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// LocalAddr is not known to the transport; DTLS does not use it.
func (c *packetConn) LocalAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.AddrPort{})
}

// SetDeadline sets the read deadline; writes never block.
func (c *packetConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline makes ReadFrom fail with os.ErrDeadlineExceeded at t
// (zero: never), also for a read already waiting.
func (c *packetConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline does nothing: writes never block.
func (c *packetConn) SetWriteDeadline(time.Time) error { return nil }
