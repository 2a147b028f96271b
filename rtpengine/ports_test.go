package rtpengine

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// TestPoolOutOfDescriptors: when the process has no descriptor left the
// pool answers ErrNoPorts at once, saying so, instead of trying (and
// quarantining) every other pair of the range, which would fail alike;
// the pair stays first in line and is bound once descriptors are back.
func TestPoolOutOfDescriptors(t *testing.T) {
	base := 20000 + 2*rand.IntN(5000)
	p := newPortPool(loopback, base, base+7, 1e9)
	binds := 0
	full := true
	p.listen = func(network string, addr netip.AddrPort) (*udpSock, error) {
		binds++
		if full {
			return nil, &net.OpError{Op: "listen", Net: network, Err: syscall.EMFILE}
		}
		return listenUDP(network, addr)
	}
	_, err := p.allocate(0)
	if !errors.Is(err, ErrNoPorts) || !strings.Contains(err.Error(), "out of file descriptors") {
		t.Fatalf("allocate with no descriptors: %v, want ErrNoPorts saying why", err)
	}
	if binds != 1 || len(p.resting) != 0 || len(p.free) != 4 || p.free[0].port != uint16(base) {
		t.Fatalf("after EMFILE: %d binds, %d resting, free %v; want 1 bind, none resting, the range untouched", binds, len(p.resting), p.free)
	}
	full = false
	pair, err := p.allocate(0)
	if err != nil {
		t.Fatal(err)
	}
	defer pair.closeSockets()
	if pair.port != uint16(base) || p.portsInUse() != 2 {
		t.Fatalf("got port %d with %d ports in use, want %d and 2", pair.port, p.portsInUse(), base)
	}
}

// TestPoolReclaimsRestingSockets: out of descriptors, the pool closes the
// kept sockets of the pairs released last (still resting, their rest
// unchanged) and binds the call's pair with what that freed.
func TestPoolReclaimsRestingSockets(t *testing.T) {
	base := 20000 + 2*rand.IntN(5000)
	const pairs = reclaimPairs + 4
	p := newPortPool(loopback, base, base+4*pairs-1, 1e9)
	var rested []socketPair
	for range pairs {
		pair, err := p.allocate(0)
		if err != nil {
			t.Fatal(err)
		}
		rested = append(rested, pair)
	}
	for i, pair := range rested {
		p.release(pair, int64(i)) // released in order: the last rests longest
	}
	t.Cleanup(p.close)
	full := true
	p.listen = func(network string, addr netip.AddrPort) (*udpSock, error) {
		if full {
			full = false // the reclaim frees some
			return nil, &net.OpError{Op: "listen", Net: network, Err: syscall.EMFILE}
		}
		return listenUDP(network, addr)
	}
	pair, err := p.allocate(10)
	if err != nil {
		t.Fatalf("allocate after reclaiming: %v", err)
	}
	defer pair.closeSockets()
	if pair.port != uint16(base+2*pairs) || pair.rtp == nil {
		t.Fatalf("got port %d (bound %v), want the first fresh pair %d", pair.port, pair.rtp != nil, base+2*pairs)
	}
	if len(p.resting) != pairs {
		t.Fatalf("%d pairs resting, want all %d still resting", len(p.resting), pairs)
	}
	for i, r := range p.resting {
		closed := i >= pairs-reclaimPairs
		if (r.pair.rtp == nil) != closed || r.until != int64(i)+1e9 {
			t.Fatalf("resting pair %d: sockets kept %v, rests until %d; want kept %v until %d",
				i, r.pair.rtp != nil, r.until, !closed, int64(i)+1e9)
		}
	}
}
