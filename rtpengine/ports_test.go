package rtpengine

import (
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
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
	if inUse, _ := p.ports(); pair.port != uint16(base) || inUse != 2 {
		t.Fatalf("got port %d with %d ports in use, want %d and 2", pair.port, inUse, base)
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

// TestPoolKeepsWithinBudget: a released pair keeps its sockets only while
// the pool's sockets, in calls and kept, stay within keepMax ports;
// otherwise they are closed and the pair rests unbound, to be bound
// again when its turn comes. Taking a kept pair, or reclaiming one,
// makes room again.
func TestPoolKeepsWithinBudget(t *testing.T) {
	base := 20000 + 2*rand.IntN(5000)
	p := newPortPool(loopback, base, base+31, 1e9)
	p.keepMax = 8
	t.Cleanup(p.close)
	var pairs []socketPair
	for range 6 {
		pair, err := p.allocate(0)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, pair)
	}
	// 12 ports in calls: releasing one leaves 10 ports in calls, no
	// room to keep it; releasing down to 3 pairs in calls (6 ports)
	// leaves room for one kept pair, then none.
	for i, pair := range pairs[:4] {
		p.release(pair, int64(i))
	}
	kept := 0
	for _, r := range p.resting {
		if r.pair.rtp != nil {
			kept++
		}
	}
	if p.inUse != 4 || p.kept != 4 || kept != 2 {
		t.Fatalf("after releasing 4 of 6 pairs: %d ports in use, %d kept (counted %d), %d resting pairs with sockets; want 4, 4, 2",
			p.inUse, p.kept, 2*kept, kept)
	}
	if r := p.resting; r[0].pair.rtp != nil || r[1].pair.rtp != nil || r[2].pair.rtp == nil || r[3].pair.rtp == nil {
		t.Fatalf("kept sockets of the resting pairs: %v %v %v %v; want the last two only",
			r[0].pair.rtp != nil, r[1].pair.rtp != nil, r[2].pair.rtp != nil, r[3].pair.rtp != nil)
	}
	// Rested, a kept pair is handed out first (the other kept one waits
	// in line), and its room is free again.
	pair, err := p.allocate(2e9)
	if err != nil {
		t.Fatal(err)
	}
	if pair.rtp == nil || pair.port != pairs[2].port || p.kept != 2 {
		t.Fatalf("allocated port %d (sockets kept %v), %d kept; want the first kept pair %d, 2 kept", pair.port, pair.rtp != nil, p.kept, pairs[2].port)
	}
	pairs[2] = pair
	for _, pair := range []socketPair{pairs[2], pairs[4], pairs[5]} {
		p.release(pair, 3e9)
	}
	if p.inUse != 0 || p.kept != 8 {
		t.Fatalf("all released: %d in use, %d kept; want 0 and 8", p.inUse, p.kept)
	}
	// Reclaiming closes the resting pairs' sockets (not the rested one's,
	// which the next call takes) and counts them out.
	if !p.reclaim() || p.kept != 2 {
		t.Fatalf("after reclaiming: %d ports kept, want 2", p.kept)
	}
}

func TestKeepBudget(t *testing.T) {
	for _, c := range []struct{ limit, want int }{
		{0, math.MaxInt}, {-1, math.MaxInt}, {512, 0}, {1024, 0}, {2048, 1024},
		{4096, 3072}, {20000, 17500}, {65536, 57344}, {1 << 20, 7 << 17},
	} {
		if got := keepBudget(c.limit); got != c.want {
			t.Errorf("keepBudget(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

// TestEngineKeepsSocketsWithinBudget: after a burst of calls the sockets
// the engine keeps for the next ones stay within its budget, so the
// descriptors the process may open are not all held by ports nobody uses
// (the budget is the open-file limit less a reserve; a small one here).
// The sockets are counted in the kernel's table of UDP sockets, by port.
func TestEngineKeepsSocketsWithinBudget(t *testing.T) {
	const calls, budget = 20, 16
	e := testEngine(t, nil, nil)
	e.pool.keepMax = budget
	var ss []*Session
	for range calls {
		ss = append(ss, call(t, e, newPhone(t), newPhone(t), nil))
	}
	if n, open := e.Stats().PortsInUse, boundPorts(t, e); n != 4*calls || open != 4*calls {
		t.Fatalf("%d ports in use, %d bound; want %d", n, open, 4*calls)
	}
	for _, s := range ss {
		s.Close()
	}
	if open, st := boundPorts(t, e), e.Stats(); open > budget || st.PortsKept != open || st.PortsInUse != 0 {
		t.Fatalf("after every call ended: %d of the engine's ports bound, %d kept, %d in use; want at most %d, all of them kept, 0",
			open, st.PortsKept, st.PortsInUse, budget)
	}
}

// boundPorts counts this process's UDP sockets bound in e's port range:
// the kernel's table of UDP sockets (/proc/net/udp) by port, those whose
// inode is one of the process's descriptors (other test processes may
// bind ports in the range too).
func boundPorts(t *testing.T, e *Engine) int {
	t.Helper()
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd here: %v", err)
	}
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil {
			if inode, ok := strings.CutPrefix(link, "socket:["); ok {
				mine[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Skipf("no /proc/net/udp here: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line) // sl local_address rem_address st ... uid timeout inode
		if len(f) < 10 || !mine[f[9]] {
			continue
		}
		_, hex, _ := strings.Cut(f[1], ":")
		if port, err := strconv.ParseUint(hex, 16, 16); err == nil && int(port) >= e.cfg.PortMin && int(port) <= e.cfg.PortMax {
			n++
		}
	}
	return n
}

// TestPoolSyscallsOutsideLock: the pool's lock is free while a pair is
// being bound and while a released pair's sockets past the budget are
// being closed, so that other calls' set-ups and tear-downs go on
// meanwhile (see allocate).
func TestPoolSyscallsOutsideLock(t *testing.T) {
	base := 20000 + 2*rand.IntN(5000)
	p := newPortPool(loopback, base, base+7, 1e9)
	t.Cleanup(p.close)
	locked := 0
	p.listen = func(network string, addr netip.AddrPort) (*udpSock, error) {
		if !p.mu.TryLock() {
			locked++
		} else {
			p.mu.Unlock()
		}
		return listenUDP(network, addr)
	}
	pair, err := p.allocate(0)
	if err != nil {
		t.Fatal(err)
	}
	if locked != 0 {
		t.Errorf("%d of 2 sockets bound with the pool's lock held", locked)
	}
	// Past the budget, release closes the sockets, and so does
	// reclaiming kept ones.
	p.shut = func(sp *socketPair) {
		if !p.mu.TryLock() {
			locked++
		} else {
			p.mu.Unlock()
		}
		sp.closeSockets()
	}
	p.keepMax = 0
	p.release(pair, 0)
	if locked != 0 {
		t.Errorf("a released pair's sockets closed with the pool's lock held")
	}
	if pair, err = p.allocate(0); err != nil {
		t.Fatal(err)
	}
	p.keepMax = math.MaxInt
	p.release(pair, 0)
	if !p.reclaim() || locked != 0 {
		t.Errorf("reclaimed kept sockets with the pool's lock held")
	}
}
