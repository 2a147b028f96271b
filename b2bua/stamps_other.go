//go:build !linux

package b2bua

import "net"

// stampSpace is zero: no arrival times off Linux.
const stampSpace = 0

// stampArrivals reports false: the overload watch needs Linux's receive
// timestamps (SO_TIMESTAMPNS); elsewhere it never refuses a call.
func stampArrivals(*net.UDPConn) bool { return false }

func arrival([]byte) (int64, bool) { return 0, false }
