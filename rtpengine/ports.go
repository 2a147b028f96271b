package rtpengine

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
)

// portPool hands out RTP/RTCP port pairs (even RTP port, RTCP on +1) from the
// configured range, together with their bound sockets.
//
// Released pairs rest in a quarantine queue before they are handed out
// again, so that packets still in flight for a finished call never reach a
// new one. A pair that fails to bind (another program holds one of its
// ports) is skipped and rests in quarantine too, to be retried later.
//
// A released pair keeps its sockets where the platform allows (Linux:
// recvLoops.park): they stay bound and watched, their packets are read and
// dropped, and the next call on the pair adopts them. Creating, binding,
// watching, unwatching and closing four sockets was most of a call's media
// set-up (BenchmarkSessionSetup). A pair whose sockets are kept is handed
// out again, once rested, before any pair that would have to be bound: the
// open sockets then follow the calls (in progress and resting), not the
// size of the range, which may hold more ports than the process may open
// descriptors. Among the kept pairs, and among the others, the one rested
// longest goes first.
//
// The sockets it holds, in calls and kept, stay within keepMax ports. A
// pair released past it has its sockets closed, to be bound again when
// its turn comes. Without that bound the sockets kept after a burst of
// calls took every descriptor the process may open, and kept them: the
// HTTP server could no longer accept a connection (the API, /metrics and
// the health checks all failed) nor SIP over TCP, long after the calls.
// No pair is bound past it either: kept sockets are closed to make room
// (reclaim), and with none left the call gets ErrNoPorts. Calls queued
// for agents past the machine's rate took the descriptors up to the
// process's limit, and the same listeners failed while they waited.
type portPool struct {
	bind       netip.Addr
	network    string // "udp4" or "udp6", so sockets never go dual-stack
	quarantine int64  // nanoseconds

	// listen binds one socket; listenUDP but in tests.
	listen func(network string, addr netip.AddrPort) (*udpSock, error)
	// shut closes a pair's sockets; (*socketPair).closeSockets but in
	// tests.
	shut func(*socketPair)

	mu      sync.Mutex   // guards the fields below
	ready   []socketPair // rested pairs with their sockets kept, oldest release first
	free    []socketPair // pairs to bind (rtp == nil), range order, then oldest release first
	resting []restingPort
	inUse   int // ports (not pairs) currently in calls
	kept    int // ports whose sockets are kept: in ready, or resting with sockets
	keepMax int // the most ports the pool's sockets may hold, in calls and kept
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
	p := &portPool{bind: bind, network: "udp4", quarantine: quarantine, listen: listenUDP, shut: (*socketPair).closeSockets, keepMax: math.MaxInt}
	if bind.Is6() {
		p.network = "udp6"
	}
	for port := min + min%2; port+1 <= max; port += 2 {
		p.free = append(p.free, socketPair{port: uint16(port)})
	}
	return p
}

// allocate returns the next usable pair: a rested pair's kept sockets,
// or sockets bound now. now is the engine clock. It returns ErrNoPorts
// when none is free, every free pair failed to bind, or the process is
// out of descriptors.
//
// The sockets are bound outside the lock. Every call's set-up and
// tear-down takes it, from the SIP stack's many goroutines; held across
// the system calls of binding (and of closing, in release) it became the
// point they all queued on when calls came faster than the machine could
// take them: the Go mutex, starved, hands itself to its waiters one by
// one, each first waiting for a CPU, so the pool served fewer calls the
// more were offered (docs/performance.md, "Locks past the machine's rate").
func (p *portPool) allocate(now int64) (socketPair, error) {
	if pair, ok := p.takeReady(now); ok {
		return pair, nil
	}
	p.mu.Lock()
	tries := len(p.free)
	p.mu.Unlock()
	for ; tries > 0; tries-- {
		port, ok, over := p.takeFree()
		if over && p.reclaim() {
			port, ok, over = p.takeFree()
		}
		if over {
			// A pair may have rested since, or been released kept.
			if pair, ok := p.takeReady(now); ok {
				return pair, nil
			}
			return socketPair{}, newError(ErrNoPorts, "the calls hold the descriptor budget ("+strconv.Itoa(p.keepMax)+" ports)")
		}
		if !ok {
			break
		}
		bound, err := p.bindPair(port)
		if outOfDescriptors(err) && p.reclaim() {
			bound, err = p.bindPair(port)
		}
		if outOfDescriptors(err) {
			// No fault of the port's, and every other pair would
			// fail alike: the pair goes back first in line.
			p.unuse(port)
			return socketPair{}, newError(ErrNoPorts, "out of file descriptors: "+err.Error())
		}
		if err != nil {
			p.mu.Lock()
			p.inUse -= 2
			p.resting = append(p.resting, restingPort{pair: socketPair{port: port}, until: now + p.quarantine})
			p.mu.Unlock()
			continue
		}
		return bound, nil
	}
	return socketPair{}, newError(ErrNoPorts, "")
}

// rested moves the pairs whose quarantine ended by now to ready (sockets
// kept) or free. Caller holds p.mu.
func (p *portPool) rested(now int64) {
	for len(p.resting) > 0 && p.resting[0].until <= now {
		if pair := p.resting[0].pair; pair.rtp != nil {
			p.ready = append(p.ready, pair)
		} else {
			p.free = append(p.free, pair)
		}
		p.resting = p.resting[1:]
	}
}

// takeReady takes the first rested pair whose sockets were kept, if any.
func (p *portPool) takeReady(now int64) (socketPair, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rested(now)
	if len(p.ready) == 0 {
		return socketPair{}, false
	}
	pair := p.ready[0]
	p.ready = p.ready[1:]
	p.inUse += 2
	p.kept -= 2
	return pair, true
}

// takeFree takes the first free pair to bind, counting its ports in use
// (unuse or a failed bind gives them back); not ok when none is free,
// over when binding one would take the pool past keepMax.
func (p *portPool) takeFree() (port uint16, ok, over bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return 0, false, false
	}
	if p.inUse+p.kept+2 > p.keepMax {
		return 0, false, true
	}
	port = p.free[0].port
	p.free = p.free[1:]
	p.inUse += 2
	return port, true, false
}

// reclaimPairs is how many resting pairs reclaim closes at a time: a few
// descriptors to spare beyond the bind that needed them, for the next
// calls and for the process's other sockets.
const reclaimPairs = 16

// reclaim closes the kept sockets of up to reclaimPairs resting pairs,
// those released last (the furthest from reuse), when the process is out
// of descriptors: a resting socket only drops late packets, and a call
// needs one more. The pairs rest on, to be bound again when their turn
// comes. It reports whether it closed any. The sockets are closed after
// the lock is let go (see allocate).
func (p *portPool) reclaim() bool {
	var socks [reclaimPairs]socketPair
	n := 0
	p.mu.Lock()
	if p.kept <= 2*len(p.ready) {
		// Every kept socket is ready for the next call, none resting:
		// nothing to look for among the resting pairs, which past the
		// machine's rate are thousands, all unbound.
		p.mu.Unlock()
		return false
	}
	for i := len(p.resting) - 1; i >= 0 && n < reclaimPairs; i-- {
		if pair := &p.resting[i].pair; pair.rtp != nil {
			socks[n] = *pair
			pair.rtp, pair.rtcp = nil, nil
			p.kept -= 2
			n++
		}
	}
	p.mu.Unlock()
	for i := range socks[:n] {
		p.shut(&socks[i])
	}
	return n > 0
}

// outOfDescriptors reports whether err says the process (EMFILE) or the
// system (ENFILE) has no descriptor left for a socket, or the kernel no
// memory for one.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (p *portPool) bindPair(port uint16) (socketPair, error) {
	rtp, err := p.listen(p.network, netip.AddrPortFrom(p.bind, port))
	if err != nil {
		return socketPair{}, err
	}
	rtcp, err := p.listen(p.network, netip.AddrPortFrom(p.bind, port+1))
	if err != nil {
		rtp.Close()
		return socketPair{}, err
	}
	return socketPair{port: port, rtp: rtp, rtcp: rtcp}, nil
}

// release returns a pair: with its sockets parked, or (rtp == nil) closed
// by the caller. It rests in quarantine until now+quarantine. Parked
// sockets that would take the pool past keepMax are closed here, outside
// the lock (see allocate), before the pair rests: a pair in quarantine is
// never bound while its old sockets are still open.
func (p *portPool) release(pair socketPair, now int64) {
	p.mu.Lock()
	p.inUse -= 2
	if pair.rtp == nil || p.inUse+p.kept+2 <= p.keepLimit() {
		if pair.rtp != nil {
			p.kept += 2
		}
		p.resting = append(p.resting, restingPort{pair: pair, until: now + p.quarantine})
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.shut(&pair)
	p.mu.Lock()
	p.resting = append(p.resting, restingPort{pair: pair, until: now + p.quarantine})
	p.mu.Unlock()
}

// keepLimit is how many ports the pool's sockets may hold, in calls and
// kept, for a released pair to keep its sockets: keepMax less room for
// binding (a sixteenth of it, at most 2,048 ports). Without that room,
// once calls came fast enough to keep the budget full of resting
// sockets, every pair bound had first to close some (reclaim), and
// allocations racing for what one reclaim freed were refused: 58 calls
// in one UDP ladder of 2,000 to 3,200 calls/s. Caller holds p.mu.
func (p *portPool) keepLimit() int {
	return p.keepMax - min(p.keepMax/16, 2048)
}

// keepBudget is keepMax for a process that may open limit descriptors:
// the limit less a reserve for everything else it opens (SIP phones and
// trunks over TCP and TLS, HTTP clients, the database, the in-kernel
// relay's maps, the loops' rings): an eighth of the limit, at least
// 1,024. No limit known (0): no bound.
func keepBudget(limit int) int {
	if limit <= 0 {
		return math.MaxInt
	}
	return max(limit-max(limit/8, 1024), 0)
}

// close closes the sockets the pool keeps (at the engine's end, before its
// receive loops stop).
func (p *portPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.ready {
		p.ready[i].closeSockets()
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

// ports is the number of ports bound by sessions and the number whose
// sockets are kept.
func (p *portPool) ports() (inUse, kept int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse, p.kept
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
