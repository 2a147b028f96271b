package rtpengine

import (
	"net/netip"
	"slices"
	"sync"
)

// portPool hands out RTP/RTCP port pairs (even RTP port, RTCP on +1) from the
// configured range, together with their bound sockets.
//
// Free pairs are used in FIFO order and released pairs rest in a quarantine
// queue before they become free again, so a port is reused as late as
// possible: packets still in flight for a finished call then find a closed
// port (or, after quarantine, at worst a fresh call that has not latched yet).
// A pair that fails to bind (another program holds one of its ports) is
// skipped and rests in quarantine too, to be retried later.
type portPool struct {
	bind       netip.Addr
	network    string // "udp4" or "udp6", so sockets never go dual-stack
	quarantine int64  // nanoseconds

	mu      sync.Mutex // guards the fields below
	free    []uint16   // even RTP ports ready to use, oldest release first
	resting []restingPort
	inUse   int // ports (not pairs) currently bound
}

// restingPort is a released pair and when it may be used again.
type restingPort struct {
	port  uint16
	until int64 // engine clock, nanoseconds
}

// socketPair is one bound RTP socket and its RTCP companion.
type socketPair struct {
	port uint16 // the RTP port; RTCP is port+1
	rtp  *udpSock
	rtcp *udpSock
}

func newPortPool(bind netip.Addr, min, max int, quarantine int64) *portPool {
	p := &portPool{bind: bind, network: "udp4", quarantine: quarantine}
	if bind.Is6() {
		p.network = "udp6"
	}
	for port := min + min%2; port+1 <= max; port += 2 {
		p.free = append(p.free, uint16(port))
	}
	return p
}

// allocate binds the next usable pair. now is the engine clock. It returns
// ErrNoPorts when every free pair failed to bind or none is free.
func (p *portPool) allocate(now int64) (socketPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.resting) > 0 && p.resting[0].until <= now {
		p.free = append(p.free, p.resting[0].port)
		p.resting = p.resting[1:]
	}
	// Binding under the lock keeps allocation simple; it is a couple of
	// syscalls per call setup, not per packet.
	for tries := len(p.free); tries > 0; tries-- {
		port := p.free[0]
		p.free = p.free[1:]
		pair, err := p.bindPair(port)
		if err != nil {
			p.resting = append(p.resting, restingPort{port: port, until: now + p.quarantine})
			continue
		}
		p.inUse += 2
		return pair, nil
	}
	return socketPair{}, newError(ErrNoPorts, "")
}

func (p *portPool) bindPair(port uint16) (socketPair, error) {
	rtp, err := listenUDP(p.network, netip.AddrPortFrom(p.bind, port))
	if err != nil {
		return socketPair{}, err
	}
	rtcp, err := listenUDP(p.network, netip.AddrPortFrom(p.bind, port+1))
	if err != nil {
		rtp.Close()
		return socketPair{}, err
	}
	return socketPair{port: port, rtp: rtp, rtcp: rtcp}, nil
}

// release returns a pair whose sockets the caller has closed. It rests in
// quarantine until now+quarantine.
func (p *portPool) release(port uint16, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= 2
	p.resting = append(p.resting, restingPort{port: port, until: now + p.quarantine})
}

// portsInUse is the number of ports currently bound by sessions.
func (p *portPool) portsInUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// unuse returns a pair that was allocated but never advertised (session
// setup failed half way): it needs no rest and goes back to the front.
func (p *portPool) unuse(port uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= 2
	p.free = slices.Insert(p.free, 0, port)
}
