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

// TestPoolKeepsWithinBudget: the pool's sockets, in calls and kept, stay
// within keepMax ports. Calls up to it get pairs; past it a call gets
// ErrNoPorts without a socket bound, unless kept sockets can give way: a
// rested kept pair is handed out first (it costs no descriptor), and the
// kept sockets of pairs still resting are closed to bind a fresh pair.
// A released pair past the budget (lowered under it) rests unbound.
func TestPoolKeepsWithinBudget(t *testing.T) {
	base := 20000 + 2*rand.IntN(5000)
	p := newPortPool(loopback, base, base+31, 1e9)
	p.keepMax = 8
	t.Cleanup(p.close)
	binds := 0
	p.listen = func(network string, addr netip.AddrPort) (*udpSock, error) {
		binds++
		return listenUDP(network, addr)
	}
	alloc := func(now int64) socketPair {
		t.Helper()
		pair, err := p.allocate(now)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	refused := func(now int64) {
		t.Helper()
		b, free := binds, len(p.free)
		_, err := p.allocate(now)
		if !errors.Is(err, ErrNoPorts) || !strings.Contains(err.Error(), "descriptor budget") {
			t.Fatalf("allocate past the budget: %v, want ErrNoPorts saying why", err)
		}
		if binds != b || len(p.free) != free {
			t.Fatalf("refused past the budget after %d binds, %d pairs taken from the free list", binds-b, free-len(p.free))
		}
	}
	var pairs []socketPair
	for range 4 {
		pairs = append(pairs, alloc(0))
	}
	refused(0)
	// Two calls end: their pairs rest with their sockets kept.
	p.release(pairs[0], 1)
	p.release(pairs[1], 2)
	if p.inUse != 4 || p.kept != 4 {
		t.Fatalf("after two releases: %d ports in use, %d kept; want 4 and 4", p.inUse, p.kept)
	}
	// Rested, the kept pairs are handed out first, bound already.
	b := binds
	a, c := alloc(2e9), alloc(2e9)
	if a.port != pairs[0].port || c.port != pairs[1].port || a.rtp == nil || c.rtp == nil || binds != b {
		t.Fatalf("rested: ports %d, %d after %d binds; want the kept pairs %d, %d and none",
			a.port, c.port, binds-b, pairs[0].port, pairs[1].port)
	}
	refused(2e9)
	// A call ends and another comes while its pair rests: the resting
	// pair's sockets give way, and a fresh pair is bound.
	p.release(a, 3e9)
	fresh := alloc(3e9 + 1)
	if fresh.rtp == nil || fresh.port == a.port || binds != b+2 || p.kept != 0 || p.resting[0].pair.rtp != nil {
		t.Fatalf("while a kept pair rests: port %d, %d binds, %d kept, resting pair kept %v; want a fresh pair, 2 binds, none kept",
			fresh.port, binds-b, p.kept, p.resting[0].pair.rtp != nil)
	}
	// The budget lowered under the calls: a released pair rests unbound.
	p.keepMax = 4
	p.release(c, 4e9)
	if last := p.resting[len(p.resting)-1]; last.pair.port != c.port || last.pair.rtp != nil || p.kept != 0 {
		t.Fatalf("released past the budget: resting pair %d kept %v, %d kept; want it unbound", last.pair.port, last.pair.rtp != nil, p.kept)
	}
	p.release(pairs[2], 4e9)
	p.release(pairs[3], 4e9)
	p.release(fresh, 4e9)
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
	const calls, budget = 10, 40
	e := testEngine(t, nil, nil)
	e.pool.keepMax = budget
	var ss []*Session
	for range calls {
		ss = append(ss, call(t, e, newPhone(t), newPhone(t), nil))
	}
	if n, open := e.Stats().PortsInUse, boundPorts(t, e); n != 4*calls || open != 4*calls {
		t.Fatalf("%d ports in use, %d bound; want %d", n, open, 4*calls)
	}
	// One call more than the budget holds: 503, nothing bound.
	_, err := e.NewSession("one-too-many", nil)
	var se interface{ SIPStatus() int }
	if !errors.Is(err, ErrNoPorts) || !errors.As(err, &se) || se.SIPStatus() != 503 {
		t.Fatalf("a call past the budget: %v, want ErrNoPorts (503)", err)
	}
	if open := boundPorts(t, e); open != 4*calls {
		t.Fatalf("%d ports bound after the refusal, want %d", open, 4*calls)
	}
	for _, s := range ss {
		s.Close()
	}
	if open, st := boundPorts(t, e), e.Stats(); open > budget || st.PortsKept != open || st.PortsInUse != 0 {
		t.Fatalf("after every call ended: %d of the engine's ports bound, %d kept, %d in use; want at most %d, all of them kept, 0",
			open, st.PortsKept, st.PortsInUse, budget)
	}
	// New calls while the ended calls' pairs rest: kept sockets give way.
	for range calls {
		ss = append(ss, call(t, e, newPhone(t), newPhone(t), nil))
	}
	if open, st := boundPorts(t, e), e.Stats(); open > budget || st.PortsInUse != 4*calls {
		t.Fatalf("calls again: %d of the engine's ports bound, %d in use; want at most %d, %d", open, st.PortsInUse, budget, 4*calls)
	}
	for _, s := range ss[calls:] {
		s.Close()
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
	p.keepMax = math.MaxInt
	if pair, err = p.allocate(0); err != nil {
		t.Fatal(err)
	}
	p.release(pair, 0)
	if !p.reclaim() || locked != 0 {
		t.Errorf("reclaimed kept sockets with the pool's lock held")
	}
}

// TestPoolKeepsRoomToBind: released pairs keep their sockets only up to
// the budget less room for binding, so a call that comes while they rest
// binds a fresh pair without closing kept ones first; past the budget a
// reclaim makes room (TestPoolKeepsWithinBudget).
func TestPoolKeepsRoomToBind(t *testing.T) {
	base := 20000 + 2*rand.IntN(5000)
	p := newPortPool(loopback, base, base+127, 1e9)
	p.keepMax = 32 // room to bind: 2 ports
	t.Cleanup(p.close)
	var pairs []socketPair
	for range 16 {
		pair, err := p.allocate(0)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, pair)
	}
	for i, pair := range pairs {
		p.release(pair, int64(i))
	}
	if p.inUse != 0 || p.kept != 30 {
		t.Fatalf("all released: %d in use, %d kept; want 0 and 30 (the budget less the room)", p.inUse, p.kept)
	}
	pair, err := p.allocate(100)
	if err != nil {
		t.Fatal(err)
	}
	defer p.release(pair, 200)
	if pair.rtp == nil || p.kept != 30 {
		t.Fatalf("a call while the pairs rest: bound %v, %d kept; want a fresh pair bound and the 30 kept left alone", pair.rtp != nil, p.kept)
	}
}
