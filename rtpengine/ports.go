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
// possible: packets still in flight for a finished call then find nobody
// (or, after quarantine, at worst a fresh call that has not latched yet).
// A pair that fails to bind (another program holds one of its ports) is
// skipped and rests in quarantine too, to be retried later.
//
// A released pair keeps its sockets where the platform allows (Linux:
// recvLoops.park): they stay bound and watched, their packets are read and
// dropped, and the next call on the pair adopts them. Creating, binding,
// watching, unwatching and closing four sockets was most of a call's media
// set-up (BenchmarkSessionSetup).
type portPool struct {
	bind       netip.Addr
	network    string // "udp4" or "udp6", so sockets never go dual-stack
	quarantine int64  // nanoseconds

	mu      sync.Mutex   // guards the fields below
	free    []socketPair // pairs ready to use, oldest release first; rtp == nil: not bound
	resting []restingPort
	inUse   int // ports (not pairs) currently in calls
}

// restingPort is a released pair (its sockets, if kept) and when it may
// be used again.
type restingPort struct {
	pair  socketPair
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
		p.free = append(p.free, socketPair{port: uint16(port)})
	}
	return p
}

// allocate returns the next usable pair: its parked sockets, or sockets
// bound now. now is the engine clock. It returns ErrNoPorts when every
// free pair failed to bind or none is free.
func (p *portPool) allocate(now int64) (socketPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.resting) > 0 && p.resting[0].until <= now {
		p.free = append(p.free, p.resting[0].pair)
		p.resting = p.resting[1:]
	}
	// Binding under the lock keeps allocation simple; it is a couple of
	// syscalls per call setup, not per packet.
	for tries := len(p.free); tries > 0; tries-- {
		pair := p.free[0]
		p.free = p.free[1:]
		if pair.rtp == nil {
			bound, err := p.bindPair(pair.port)
			if err != nil {
				p.resting = append(p.resting, restingPort{pair: pair, until: now + p.quarantine})
				continue
			}
			pair = bound
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

// release returns a pair: with its sockets parked, or (rtp == nil) closed
// by the caller. It rests in quarantine until now+quarantine.
func (p *portPool) release(pair socketPair, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= 2
	p.resting = append(p.resting, restingPort{pair: pair, until: now + p.quarantine})
}

// close closes the sockets the pool keeps (at the engine's end, before its
// receive loops stop).
func (p *portPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.free {
		p.free[i].closeSockets()
	}
	for i := range p.resting {
		p.resting[i].pair.closeSockets()
	}
}

// closeSockets closes the pair's sockets, if it has them, and forgets them.
func (sp *socketPair) closeSockets() {
	if sp.rtp != nil {
		sp.rtp.Close()
		sp.rtcp.Close()
		sp.rtp, sp.rtcp = nil, nil
	}
}

// portsInUse is the number of ports currently bound by sessions.
func (p *portPool) portsInUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// unuse returns a pair that was allocated but never advertised (session
// setup failed half way), its sockets closed by the caller: it needs no
// rest and goes back to the front.
func (p *portPool) unuse(port uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= 2
	p.free = slices.Insert(p.free, 0, socketPair{port: port})
}
