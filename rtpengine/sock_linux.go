//go:build !386

package rtpengine

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSock is one of earshot's media sockets on Linux: a bound,
// non-blocking UDP socket that belongs to no runtime netpoller. A recvLoop
// watches it with its own epoll instance and reads it; anyone may write to
// it. Keeping it out of the Go netpoller matters: a socket registered there
// as well would wake the runtime's poller on every datagram for nothing.
//
// The file descriptor number is reused by the kernel as soon as it is
// closed, so nothing may touch it afterwards: writers hold mu for reading
// around their system call, and Close first takes the socket off its
// recvLoop (which waits out a read in progress), then takes mu for
// writing before it closes the descriptor.
type udpSock struct {
	fd  int
	six bool // AF_INET6

	mu     sync.RWMutex // guards closed against writers; held for writing only by Close
	closed bool

	// Set by recvLoop.add before the socket's leg is shared, read by Close.
	loop *recvLoop // watching the socket; nil if it never was
	slot uint32    // its slot in loop
}

// errSockClosed is what a write on a closed udpSock returns.
var errSockClosed = net.ErrClosed

// listenUDP binds a non-blocking UDP socket on addr. network is "udp4" or
// "udp6"; an IPv6 socket is IPv6-only, as with net.ListenUDP.
func listenUDP(network string, addr netip.AddrPort) (*udpSock, error) {
	family := syscall.AF_INET
	if network == "udp6" {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	var sa syscall.Sockaddr
	if family == syscall.AF_INET6 {
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1); err != nil {
			syscall.Close(fd)
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		sa = &syscall.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	} else {
		if !addr.Addr().Unmap().Is4() {
			syscall.Close(fd)
			return nil, &net.OpError{Op: "listen", Net: network, Err: syscall.EAFNOSUPPORT}
		}
		sa = &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().Unmap().As4()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return &udpSock{fd: fd, six: family == syscall.AF_INET6}, nil
}

// WriteToUDPAddrPort sends b to addr in one sendto. It never blocks: when
// the socket's send buffer is full the packet is refused (EAGAIN), as a
// media relay should rather drop than queue. It does not allocate.
func (u *udpSock) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	var sa syscall.RawSockaddrInet6
	salen, err := u.sockaddr(addr, &sa)
	if err != nil {
		return 0, err
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	u.mu.RLock()
	if u.closed {
		u.mu.RUnlock()
		return 0, errSockClosed
	}
	errno := u.sendtoLocked(p, len(b), &sa, salen)
	u.mu.RUnlock()
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: errno}
	}
	return len(b), nil
}

// sendtoLocked is one sendto of n bytes at p to sa (salen bytes of it);
// the caller holds u.mu for reading and has checked u.closed.
func (u *udpSock) sendtoLocked(p unsafe.Pointer, n int, sa *syscall.RawSockaddrInet6, salen uint32) syscall.Errno {
	// A sendto on a non-blocking datagram socket does not block, so the
	// raw call spares the scheduler's bookkeeping around a system call.
	_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(u.fd), uintptr(p), uintptr(n), 0, uintptr(unsafe.Pointer(sa)), uintptr(salen))
	return errno
}

// sockaddr writes addr into sa in the socket's family (an IPv4 address
// maps to ::ffff:a.b.c.d on an IPv6 socket; an IPv6 one cannot be reached
// from an IPv4 socket) and returns its length.
func (u *udpSock) sockaddr(addr netip.AddrPort, sa *syscall.RawSockaddrInet6) (uint32, error) {
	ip := addr.Addr()
	if u.six {
		sa.Family = syscall.AF_INET6
		putPort(&sa.Port, addr.Port())
		sa.Addr = ip.As16()
		return syscall.SizeofSockaddrInet6, nil
	}
	if !ip.Unmap().Is4() {
		return 0, &net.OpError{Op: "write", Net: "udp4", Err: syscall.EAFNOSUPPORT}
	}
	sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
	sa4.Family = syscall.AF_INET
	putPort(&sa4.Port, addr.Port())
	sa4.Addr = ip.Unmap().As4()
	return syscall.SizeofSockaddrInet4, nil
}

// recvFrom reads one datagram into buf without blocking; rsa is the
// caller's scratch space for the source address, so nothing allocates.
// Only the socket's recvLoop calls it, and only while the socket is
// registered there (which Close ends before the descriptor is closed).
func (u *udpSock) recvFrom(buf []byte, rsa *syscall.RawSockaddrAny) (int, netip.AddrPort, syscall.Errno) {
	salen := uint32(syscall.SizeofSockaddrAny)
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(u.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		0, uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		return 0, netip.AddrPort{}, errno
	}
	return int(n), sockaddrToAddrPort(rsa), 0
}

// sockaddrToAddrPort decodes a received source address. Zones of
// link-local IPv6 sources are not kept: media peers use global addresses.
func sockaddrToAddrPort(rsa *syscall.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), getPort(&sa.Port))
	}
	return netip.AddrPort{}
}

// putPort and getPort convert between a port number and the network byte
// order of a sockaddr's port field.
func putPort(field *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(field *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(field))
	return uint16(b[0])<<8 | uint16(b[1])
}

// Close takes the socket off its recvLoop, waits for writers in progress
// and closes the descriptor. It is idempotent.
func (u *udpSock) Close() error {
	if l := u.loop; l != nil {
		l.remove(u)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	return syscall.Close(u.fd)
}

// queued reports whether a datagram waits in the socket's receive queue
// (SIOCINQ). The in-kernel relay takes a stream only when none does, so
// that nothing older than what the kernel forwards is still to be relayed.
func queued(s *udpSock) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	n, err := unix.IoctlGetInt(s.fd, unix.SIOCINQ)
	return err != nil || n > 0
}
