//go:build !linux

package b2bua

import (
	"net"
	"syscall"
)

// stampSpace is zero: no arrival times off Linux.
const stampSpace = 0

// stampArrivals reports false: the overload watch needs Linux's receive
// timestamps (SO_TIMESTAMPNS); elsewhere it never refuses a call.
func stampArrivals(syscall.Conn) bool { return false }

// stampStreams returns ln as it is: no arrival times off Linux.
func stampStreams(ln net.Listener, _ *overload) (net.Listener, bool) { return ln, false }

func arrival([]byte) (int64, bool) { return 0, false }
