package b2bua

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestUDPReadBuffer: a UDP SIP socket gets the larger receive buffer, as
// far as net.core.rmem_max allows (Linux reports twice the size set).
func TestUDPReadBuffer(t *testing.T) {
	s := newTestServer(t, Config{}, newTestClock())
	if _, err := s.Listen([]Listener{{Transport: "udp", Address: "127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.sip.packets[0].(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := sc.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if want := 2 * min(udpReadBuffer, max); got != want {
		t.Errorf("SO_RCVBUF = %d, want %d (rmem_max %d)", got, want, max)
	}
}
