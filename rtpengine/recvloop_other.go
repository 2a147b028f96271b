//go:build !linux || 386

package rtpengine

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
)

// udpSock is a media socket. Outside Linux (and on linux/386, whose
// socket calls go through socketcall) it is a plain net.UDPConn read by a
// goroutine of its own (see recvLoops).
type udpSock = net.UDPConn

// listenUDP binds a UDP socket on addr; network is "udp4" or "udp6".
func listenUDP(network string, addr netip.AddrPort) (*udpSock, error) {
	return net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
}

// recvLoops, outside Linux, runs one reader goroutine per socket, blocked
// in the Go netpoller: simple and portable, at the price of a goroutine
// wake-up per packet (the Linux build waits on many sockets per goroutine
// with epoll instead).
type recvLoops struct{}

func newRecvLoops(int, bool, *slog.Logger) (*recvLoops, error) { return &recvLoops{}, nil }

// dedicated is false: readers block in the netpoller.
func (r *recvLoops) dedicated() bool { return false }

// start runs leg l's two reader goroutines; closing a socket ends its
// reader, and shut waits for both through l.wg.
func (r *recvLoops) start(s *Session, l *leg) error {
	l.wg.Add(2)
	go s.readRTP(l)
	go s.readRTCP(l)
	return nil
}

// park is not done outside Linux: a leg's sockets are closed at its end
// (their readers end with them) and bound afresh for the next call.
func (r *recvLoops) park(*leg) (rtp, rtcp *udpSock, ok bool) { return nil, nil, false }

// adopt: never a parked socket outside Linux.
func (r *recvLoops) adopt(*Session, *leg) bool { return false }

// quarantined: nothing is parked outside Linux.
func (r *recvLoops) quarantined() uint64 { return 0 }
func (r *recvLoops) caughtUp() uint64    { return 0 }

// close has nothing to stop: every reader ended with its socket.
func (r *recvLoops) close() {}

// readRTP is the reader goroutine of a leg's RTP socket. It returns when
// the socket is closed.
func (s *Session) readRTP(in *leg) {
	defer in.wg.Done()
	buf := make([]byte, readBufSize)
	for {
		n, src, err := in.rtp.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.onRTPSocket(in, buf[:n], src, nil)
	}
}

// readRTCP is the reader goroutine of a leg's RTCP socket.
func (s *Session) readRTCP(in *leg) {
	defer in.wg.Done()
	buf := make([]byte, readBufSize)
	for {
		n, src, err := in.rtcp.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.onRTCPSocket(in, buf[:n], src)
	}
}

// queued is the in-kernel relay's check of a socket's receive queue; the
// relay runs only on Linux (not 386), where sock_linux.go has it.
func queued(*udpSock) bool { return true }

// openFileLimit: here released ports never keep their sockets, so the
// pool needs no bound on them.
func openFileLimit() int { return 0 }

// ringReads: no read goes through io_uring here.
func (r *recvLoops) ringReads() uint64 { return 0 }

// batchReads: the reader goroutines here read each packet on their own.
func (r *recvLoops) batchReads() error {
	return errors.New("batched receives are Linux only")
}

// batchSends: the reader goroutines here send each packet on its own.
func (r *recvLoops) batchSends(*slog.Logger) error {
	return errors.New("batched relay sends are Linux only")
}
