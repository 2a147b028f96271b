package b2bua

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stampSpace is room for one SCM_TIMESTAMPNS control message: a cmsghdr
// and a timespec.
var stampSpace = unix.CmsgSpace(timespecSize)

const timespecSize = int(unsafe.Sizeof(unix.Timespec{}))

// stampArrivals asks the kernel to tag everything received on c — each
// datagram, each TCP segment — with the time it arrived (SO_TIMESTAMPNS,
// the realtime clock) and reports whether it will.
func stampArrivals(c syscall.Conn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// arrival reads the SCM_TIMESTAMPNS message out of the control data of
// one datagram, as Unix ns, without allocating.
func arrival(oob []byte) (int64, bool) {
	const hdr = unix.SizeofCmsghdr
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && n >= hdr+timespecSize {
			// The data is aligned for a cmsg (the buffer is a Go
			// allocation, the header a multiple of the word).
			return (*unix.Timespec)(unsafe.Pointer(&oob[hdr])).Nano(), true
		}
		step := unix.CmsgSpace(n - hdr)
		if step > len(oob) {
			return 0, false
		}
		oob = oob[step:]
	}
	return 0, false
}

// stampingListener gives the overload watch the stream transports' side:
// the kernel stamps each TCP segment on arrival too, and a read reports
// the stamp of the newest segment it consumed, so a read of bytes that
// sat in the socket's queue tells how long even the freshest of them
// waited. Accept wraps each connection; under TLS
// it sits below the TLS listener, whose reads it then times. Accepted
// sockets inherit SO_TIMESTAMPNS from the listening one (the kernel
// clones its flags), so Accept sets nothing.
type stampingListener struct {
	net.Listener
	watch *overload
}

// stampStreams returns ln with its connections timed for w, or ln itself
// when the system cannot stamp TCP arrivals (the option is set on ln's
// own socket).
func stampStreams(ln net.Listener, w *overload) (net.Listener, bool) {
	tl, ok := ln.(*net.TCPListener)
	if w == nil || !ok || !stampArrivals(tl) {
		return ln, false
	}
	return stampingListener{ln, w}, true
}

func (l stampingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	s := &stampingStream{TCPConn: tc, raw: raw, watch: l.watch, oob: make([]byte, stampSpace)}
	s.recv = s.recvmsg
	return s, nil
}

// stampingStream is an accepted TCP connection whose reads tell the
// overload watch how long their bytes waited. One goroutine reads a
// connection (the transport's reader), so the read state is per
// connection without locks.
type stampingStream struct {
	*net.TCPConn
	raw   syscall.RawConn
	watch *overload
	oob   []byte
	// The read in progress, for recv (bound once so that a read does not
	// allocate a closure).
	buf     []byte
	n, oobn int
	err     error
	recv    func(fd uintptr) bool
}

func (s *stampingStream) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.buf = b
	err := s.raw.Read(s.recv) // waits for readability, honouring the read deadline
	s.buf = nil
	switch {
	case err != nil: // closed, or past the read deadline
		return 0, s.opError(err)
	case s.err != nil:
		return 0, s.opError(os.NewSyscallError("recvmsg", s.err))
	case s.n == 0:
		return 0, io.EOF
	}
	if at, ok := arrival(s.oob[:s.oobn]); ok {
		s.watch.observe(at, s.watch.now().UnixNano())
	}
	return s.n, nil
}

// opError wraps err as net.TCPConn's Read does, so that callers that look
// for a timeout or a closed connection find it the same way.
func (s *stampingStream) opError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}

// recvmsg is one recvmsg of the read in progress (again if a signal cut
// it short, as the runtime's own reads do); false asks raw.Read to wait
// for the socket and call it again.
func (s *stampingStream) recvmsg(fd uintptr) bool {
	for {
		s.n, s.oobn, _, _, s.err = unix.Recvmsg(int(fd), s.buf, s.oob, 0)
		if s.err != unix.EINTR {
			return s.err != unix.EAGAIN
		}
	}
}
