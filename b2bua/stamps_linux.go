package b2bua

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stampSpace is room for one SCM_TIMESTAMPNS control message: a cmsghdr
// and a timespec.
var stampSpace = unix.CmsgSpace(timespecSize)

const timespecSize = int(unsafe.Sizeof(unix.Timespec{}))

// stampArrivals asks the kernel to tag every datagram received on uc
// with the time it arrived (SO_TIMESTAMPNS, the realtime clock) and
// reports whether it will.
func stampArrivals(uc *net.UDPConn) bool {
	raw, err := uc.SyscallConn()
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
