// Package kernel is earshot's in-kernel RTP relay: a BPF program on the
// ingress of the media interfaces (TCX, Linux 6.6 and later) that forwards
// the RTP of relayed calls from one leg to the other, rewriting addresses,
// ports, SSRC, sequence number and timestamp exactly as the userspace relay
// does, so that a relayed packet never wakes the process.
//
// The package knows nothing of calls. rtpengine installs one entry per
// receiving leg (Install) when a stream has settled, and takes it back
// (Remove) when the stream needs userspace again: a supervisor joins, a
// packet the entry does not describe arrives (another source, a
// telephone-event, a new SSRC, a jump), the SDP changes, the call ends.
// Remove returns the stream's state as the kernel left it, so userspace
// continues the sequence numbers and timestamps with no gap.
//
// The program is C (relay.c), compiled with `make bpf` into relay_bpfel.o,
// which is committed and embedded: building earshot needs no clang.
package kernel

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

//go:embed relay_bpfel.o
var object []byte

// ErrUnsupported wraps every reason the relay cannot run here: a
// big-endian CPU, no permission to load BPF programs, a kernel without
// TCX, no usable interface.
var ErrUnsupported = errors.New("kernel relay unavailable")

// flagLocal, flagTap and flagDrop mirror FLAG_* in relay.c.
const (
	flagLocal = 1
	flagTap   = 2
	flagDrop  = 4
)

// tapMax mirrors TAP_MAX in relay.c: the most RTP bytes a tap record
// holds.
const tapMax = 332

// key mirrors struct key in relay.c: earshot's receiving address and port,
// as they are in the packet (network byte order).
type key struct {
	Addr [4]byte
	Port [2]byte
	_    [2]byte
}

// entry mirrors struct entry in relay.c, field for field (88 bytes).
type entry struct {
	Lock      uint32
	SrcAddr   [4]byte
	OutAddr   [4]byte
	DstAddr   [4]byte
	SrcPort   [2]byte
	OutPort   [2]byte
	DstPort   [2]byte
	PT        uint8
	Flags     uint8
	SSRC      uint32
	Rate      uint32
	InSSRC    uint32
	InTS      uint32
	TSOffset  uint32
	OutTS     uint32
	InSeq     uint16
	SeqOffset uint16
	OutSeq    uint16
	Paused    uint8 // the program met a packet it does not forward (see relay.c)
	_         uint8
	InNanos   uint64
	OutNanos  uint64
	Packets   uint64
	Bytes     uint64
	Fallbacks uint64
	TapLost   uint64
}

// Route is where one leg's RTP goes: fixed for an entry's life.
type Route struct {
	From netip.AddrPort // the receiving leg's peer: the only source forwarded
	Out  netip.AddrPort // earshot's address and port on the other leg: the new source
	To   netip.AddrPort // the other leg's peer: the new destination
	PT   uint8          // the audio payload type forwarded; any other goes to userspace
	SSRC uint32         // the other leg's output SSRC
	Rate uint32         // RTP clock rate of PT, for the timestamp-jump check
	// Tap: a copy of every packet forwarded, as received, goes to the
	// taps ring (Taps), so that the mixer hears a party whose stream the
	// kernel relays (a listening supervisor's mix).
	Tap bool
}

// State is an output stream's mapping as outStream keeps it (see
// rtpengine/outstream.go); nanoseconds are on the Now clock.
type State struct {
	InSSRC    uint32
	InSeq     uint16
	InTS      uint32
	InNanos   int64
	SeqOffset uint16
	TSOffset  uint32
	OutSeq    uint16
	OutTS     uint32
	OutNanos  int64
}

// Counters are what the kernel forwarded for one entry since Install.
type Counters struct {
	Packets   uint64
	Bytes     uint64 // UDP payload bytes
	Fallbacks uint64 // packets left to userspace because no route was found
	TapLost   uint64 // forwarded packets whose tap copy was lost (the ring was full)
}

// Config says where the relay attaches.
type Config struct {
	// Interfaces are the names of the interfaces whose ingress carries
	// the media. Empty means the loopback interface plus those holding
	// BindAddr (every interface that is up when BindAddr is unspecified).
	Interfaces []string
	// BindAddr is the media address (rtpengine.Config.BindAddr).
	BindAddr netip.Addr
}

// Relay is the loaded program, its map and its attachments.
type Relay struct {
	prog   *ebpf.Program
	legs   *ebpf.Map
	taps   *ringbuf.Reader
	links  []link.Link
	ifaces []string

	mu    sync.RWMutex // guards local
	local map[netip.Addr]bool
}

// Open loads the program and attaches it to the ingress of the media
// interfaces. Any failure is returned wrapping ErrUnsupported, with the
// reason, and leaves nothing loaded.
func Open(cfg Config) (*Relay, error) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, fmt.Errorf("%w: the program is built for little-endian CPUs", ErrUnsupported)
	}
	if err := mayLoad(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	names, err := interfaces(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	var objs struct {
		Prog *ebpf.Program `ebpf:"relay"`
		Legs *ebpf.Map     `ebpf:"legs"`
		Taps *ebpf.Map     `ebpf:"taps"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("%w: load: %v", ErrUnsupported, err)
	}
	r := &Relay{prog: objs.Prog, legs: objs.Legs}
	// The reader owns the ring's mapping; the map itself is not needed.
	r.taps, err = ringbuf.NewReader(objs.Taps)
	objs.Taps.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: taps ring: %v", ErrUnsupported, err)
	}
	for _, name := range names {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%w: interface %q: %v", ErrUnsupported, name, err)
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: r.prog, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%w: attach to %s ingress: %v", ErrUnsupported, name, err)
		}
		r.links = append(r.links, l)
		r.ifaces = append(r.ifaces, name)
	}
	if err := r.Refresh(); err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return r, nil
}

// Interfaces are the interfaces the program is attached to.
func (r *Relay) Interfaces() []string { return r.ifaces }

// Refresh re-reads the host's own addresses: a destination among them is
// delivered locally; any other is routed through the kernel's FIB.
func (r *Relay) Refresh() error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	local := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		}
	}
	r.mu.Lock()
	r.local = local
	r.mu.Unlock()
	return nil
}

func (r *Relay) isLocal(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.local[a]
}

// Close detaches the program and frees it and its map. Entries still
// installed stop forwarding: their packets reach the sockets again.
func (r *Relay) Close() error {
	var errs []error
	if r.taps != nil {
		errs = append(errs, r.taps.Close()) // Drain returns ErrClosed
	}
	for _, l := range r.links {
		errs = append(errs, l.Close())
	}
	r.links = nil
	if r.prog != nil {
		errs = append(errs, r.prog.Close())
	}
	if r.legs != nil {
		errs = append(errs, r.legs.Close())
	}
	return errors.Join(errs...)
}

// Install makes the kernel forward the RTP arriving at local (earshot's
// address and port on the receiving leg) as rt says, continuing st. It
// replaces an entry for local, counters included.
func (r *Relay) Install(local netip.AddrPort, rt Route, st State) error {
	k, ok := makeKey(local)
	if !ok {
		return fmt.Errorf("kernel relay: %s is not IPv4", local)
	}
	from, out, to := rt.From.Addr().Unmap(), rt.Out.Addr().Unmap(), rt.To.Addr().Unmap()
	if !from.Is4() || !out.Is4() || !to.Is4() {
		return fmt.Errorf("kernel relay: route %s → %s → %s is not IPv4", rt.From, rt.Out, rt.To)
	}
	e := entry{
		SrcAddr: from.As4(), OutAddr: out.As4(), DstAddr: to.As4(),
		SrcPort: port(rt.From.Port()), OutPort: port(rt.Out.Port()), DstPort: port(rt.To.Port()),
		PT: rt.PT & 0x7f, SSRC: rt.SSRC, Rate: max(rt.Rate, 1),
		InSSRC: st.InSSRC, InSeq: st.InSeq, InTS: st.InTS, InNanos: uint64(st.InNanos),
		SeqOffset: st.SeqOffset, TSOffset: st.TSOffset,
		OutSeq: st.OutSeq, OutTS: st.OutTS, OutNanos: uint64(st.OutNanos),
	}
	if r.isLocal(to) {
		e.Flags |= flagLocal
	}
	if rt.Tap {
		e.Flags |= flagTap
	}
	return r.legs.Update(&k, &e, ebpf.UpdateAny)
}

// InstallDrop makes the kernel drop the audio (payload type pt) that
// arrives at local from its latched peer from, counting it (Counters) and
// noting when it last heard the peer (State.InNanos); anything else from
// the peer, and everything from other sources, still reaches the socket.
// For a listening supervisor, whose audio nobody hears. Remove ends it.
func (r *Relay) InstallDrop(local, from netip.AddrPort, pt uint8) error {
	k, ok := makeKey(local)
	f := from.Addr().Unmap()
	if !ok || !f.Is4() {
		return fmt.Errorf("kernel relay: drop %s → %s is not IPv4", from, local)
	}
	e := entry{SrcAddr: f.As4(), SrcPort: port(from.Port()), PT: pt & 0x7f, Flags: flagDrop, Rate: 1, InNanos: uint64(Now())}
	return r.legs.Update(&k, &e, ebpf.UpdateAny)
}

// Remove takes the entry for local out of the kernel and returns the
// stream state and counters it had; ok is false when there was none. From
// its return no packet to local is forwarded by the kernel.
func (r *Relay) Remove(local netip.AddrPort) (st State, c Counters, ok bool, err error) {
	return r.lookup(local, true)
}

// Read returns the entry for local without removing it.
func (r *Relay) Read(local netip.AddrPort) (st State, c Counters, ok bool, err error) {
	return r.lookup(local, false)
}

func (r *Relay) lookup(local netip.AddrPort, remove bool) (State, Counters, bool, error) {
	k, ok := makeKey(local)
	if !ok {
		return State{}, Counters{}, false, nil
	}
	var e entry
	var err error
	if remove {
		err = r.legs.LookupAndDeleteWithFlags(&k, &e, ebpf.LookupLock)
	} else {
		err = r.legs.LookupWithFlags(&k, &e, ebpf.LookupLock)
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return State{}, Counters{}, false, nil
	}
	if err != nil {
		return State{}, Counters{}, false, err
	}
	st := State{
		InSSRC: e.InSSRC, InSeq: e.InSeq, InTS: e.InTS, InNanos: int64(e.InNanos),
		SeqOffset: e.SeqOffset, TSOffset: e.TSOffset,
		OutSeq: e.OutSeq, OutTS: e.OutTS, OutNanos: int64(e.OutNanos),
	}
	return st, Counters{Packets: e.Packets, Bytes: e.Bytes, Fallbacks: e.Fallbacks, TapLost: e.TapLost}, true, nil
}

// Taps reads the copies of the packets that entries installed with
// Route.Tap forwarded. The program never wakes a reader: Drain takes what
// the ring holds when called, on the caller's clock. One goroutine uses a
// Taps.
type Taps struct {
	r   *ringbuf.Reader
	rec ringbuf.Record
}

// ErrClosed is what Drain returns once the relay is closed.
var ErrClosed = os.ErrClosed

// Taps returns the relay's tap reader.
func (r *Relay) Taps() *Taps { return &Taps{r: r.taps} }

// Drain calls fn with every tap copy in the ring, oldest first: port is
// earshot's receiving RTP port (which entry forwarded it), pkt the RTP
// packet as received, valid during the call. It returns the number of
// copies, and ErrClosed once the relay is closed. Once its buffer has
// grown to a record's size it does not allocate.
func (t *Taps) Drain(fn func(port uint16, pkt []byte)) (int, error) {
	t.r.SetDeadline(time.Now()) // do not wait: take what is there
	n := 0
	for {
		err := t.r.ReadInto(&t.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if errors.Is(err, os.ErrClosed) {
			return n, ErrClosed
		}
		if err != nil {
			return n, err
		}
		raw := t.rec.RawSample
		if len(raw) < 4 {
			continue
		}
		l := int(binary.NativeEndian.Uint16(raw[2:]))
		if l > tapMax || 4+l > len(raw) {
			continue
		}
		fn(uint16(raw[0])<<8|uint16(raw[1]), raw[4:4+l])
		n++
	}
}

// Now is the clock of State's nanoseconds: CLOCK_MONOTONIC, which the
// program reads with bpf_ktime_get_ns. Go's own monotonic clock is the same
// clock on Linux, read through the vDSO; Now reads it relative to one
// clock_gettime taken once, so the relay, which converts two times per
// hand-over, pays no system call for them.
func Now() int64 {
	b := monoBase()
	return b.mono + int64(time.Since(b.at))
}

// clockPair is one reading of CLOCK_MONOTONIC and of Go's clock at once.
type clockPair struct {
	at   time.Time
	mono int64
}

// monoBase is read once: both clocks run at the same rate.
var monoBase = sync.OnceValue(func() clockPair {
	var ts unix.Timespec
	at := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return clockPair{at: at}
	}
	return clockPair{at: at, mono: ts.Nano()}
})

func makeKey(a netip.AddrPort) (key, bool) {
	ip := a.Addr().Unmap()
	if !ip.Is4() {
		return key{}, false
	}
	return key{Addr: ip.As4(), Port: port(a.Port())}, true
}

func port(p uint16) [2]byte {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return b
}

// Capabilities (linux/capability.h) that loading and attaching a tc
// program needs: CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN.
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capBPF      = 39
)

// mayLoad checks the process's effective capabilities before any bpf()
// call: a process without them (a hardened service) is told so plainly,
// and one whose seccomp filter forbids bpf() is never made to try.
func mayLoad() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return fmt.Errorf("CapEff: %v", err)
		}
		has := func(c uint) bool { return caps&(1<<c) != 0 }
		if has(capSysAdmin) || (has(capBPF) && has(capNetAdmin)) {
			return nil
		}
		return errors.New("the process lacks CAP_BPF and CAP_NET_ADMIN")
	}
	return errors.New("no CapEff in /proc/self/status")
}

// interfaces resolves cfg.Interfaces (see Config).
func interfaces(cfg Config) ([]string, error) {
	if len(cfg.Interfaces) > 0 {
		return cfg.Interfaces, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	bind := cfg.BindAddr.Unmap()
	var names []string
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp == 0 || !ethernetLike(ifc.Name) {
			continue
		}
		if ifc.Flags&net.FlagLoopback != 0 || !bind.IsValid() || bind.IsUnspecified() || holds(ifc, bind) {
			names = append(names, ifc.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no interface carries %s", bind)
	}
	return names, nil
}

// ethernetLike reports whether the interface's frames start with an
// Ethernet header, which the program assumes: Ethernet (ARPHRD_ETHER) and
// loopback (ARPHRD_LOOPBACK).
func ethernetLike(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return false
	}
	t, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && (t == arphrdEther || t == arphrdLoopback)
}

// The link types of /sys/class/net/*/type (include/uapi/linux/if_arp.h),
// spelled here so that the package builds where x/sys/unix lacks them.
const (
	arphrdEther    = 1
	arphrdLoopback = 772
)

func holds(ifc net.Interface, a netip.Addr) bool {
	addrs, err := ifc.Addrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if p, err := netip.ParsePrefix(x.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}
