package rtpengine

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
)

// readBufSize is the per-socket read buffer. Telephony RTP is far below an
// Ethernet MTU; a datagram that fills the whole buffer may have been
// truncated by the kernel and is dropped as malformed.
const readBufSize = 2048

// peer is where a socket sends, and whether that address was learnt from a
// received packet (latched) or only from SDP. A peer is immutable: a change
// swaps the whole pointer, so the relay reads it without a lock.
type peer struct {
	addr    netip.AddrPort // zero: nowhere to send yet
	latched bool
}

// endpoint is one of earshot's sockets on a leg with the peer address it
// talks to.
type endpoint struct {
	conn *net.UDPConn
	dest atomic.Pointer[peer]
}

// reset points the endpoint at an address from SDP and re-opens latching:
// the next valid packet received decides the peer again.
func (ep *endpoint) reset(addr netip.AddrPort) {
	ep.dest.Store(&peer{addr: addr})
}

// accept applies symmetric RTP with strict source to a valid packet from
// src: while unlatched, the first packet latches its source as the peer
// (which also becomes the destination, so NATed phones work); once latched,
// only that source is accepted. It reports whether the packet is accepted
// and whether this packet latched.
func (ep *endpoint) accept(src netip.AddrPort) (ok, latched bool) {
	for {
		cur := ep.dest.Load()
		if cur != nil && cur.latched {
			return cur.addr == src, false
		}
		// One allocation per latch, i.e. per SDP, never per packet.
		if ep.dest.CompareAndSwap(cur, &peer{addr: src, latched: true}) {
			return true, true
		}
	}
}

// leg is earshot's side of one call leg: its RTP/RTCP sockets, the stream
// it sends to the phone on that leg, and when it last heard from the phone.
type leg struct {
	port     uint16 // local RTP port; RTCP is port+1
	rtp      endpoint
	rtcp     endpoint
	out      *outStream
	lastRecv atomic.Int64 // engine clock of the last accepted RTP or RTCP packet
}

// readRTP is the reader goroutine of leg i's RTP socket: it relays every
// packet to the other leg. It returns when the socket is closed.
func (s *Session) readRTP(i int) {
	defer s.wg.Done()
	in, out := &s.legs[i], &s.legs[1-i]
	buf := make([]byte, readBufSize)
	for {
		n, src, err := in.rtp.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.relayRTP(in, out, buf[:n], src)
	}
}

// relayRTP is the per-packet path for RTP from leg in to leg out. It must
// not allocate.
func (s *Session) relayRTP(in, out *leg, pkt []byte, src netip.AddrPort) {
	if len(pkt) >= readBufSize || !validRTP(pkt) {
		s.counters.dropMalformed.Add(1)
		return
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	ok, latched := in.rtp.accept(src)
	if !ok {
		s.counters.dropSource.Add(1)
		return
	}
	if latched {
		s.logLatch("rtp", in, src)
	}
	now := s.eng.nanotime()
	in.lastRecv.Store(now)
	dst := out.rtp.dest.Load()
	if dst == nil || !dst.addr.IsValid() {
		s.counters.dropNoDest.Add(1)
		return
	}
	out.out.rewrite(pkt, now, s.rates.Load())
	s.countRelayed(&s.counters.rtpPackets, len(pkt))
	if _, err := out.rtp.conn.WriteToUDPAddrPort(pkt, dst.addr); err != nil {
		s.uncountRelayed(&s.counters.rtpPackets, len(pkt))
	}
}

// readRTCP is the reader goroutine of leg i's RTCP socket.
func (s *Session) readRTCP(i int) {
	defer s.wg.Done()
	in, out := &s.legs[i], &s.legs[1-i]
	buf := make([]byte, readBufSize)
	for {
		n, src, err := in.rtcp.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.relayRTCP(in, out, buf[:n], src)
	}
}

// relayRTCP relays one compound RTCP packet from leg in to leg out,
// translating SSRCs, timestamps and report blocks (see rtcpXlate).
func (s *Session) relayRTCP(in, out *leg, pkt []byte, src netip.AddrPort) {
	if len(pkt) >= readBufSize || !rewriteRTCP(pkt, nil) {
		s.counters.dropMalformed.Add(1)
		return
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	ok, latched := in.rtcp.accept(src)
	if !ok {
		s.counters.dropSource.Add(1)
		return
	}
	if latched {
		s.logLatch("rtcp", in, src)
	}
	in.lastRecv.Store(s.eng.nanotime())
	dst := out.rtcp.dest.Load()
	if dst == nil || !dst.addr.IsValid() {
		s.counters.dropNoDest.Add(1)
		return
	}
	x := rtcpXlate{fwd: out.out.view(), rev: in.out.view()}
	rewriteRTCP(pkt, &x)
	s.countRelayed(&s.counters.rtcpPackets, len(pkt))
	if _, err := out.rtcp.conn.WriteToUDPAddrPort(pkt, dst.addr); err != nil {
		s.uncountRelayed(&s.counters.rtcpPackets, len(pkt))
	}
}

// countRelayed counts a packet as relayed before it is written, so that
// whoever receives it (a test, a monitoring probe) already sees it counted.
func (s *Session) countRelayed(packets *atomic.Uint64, n int) {
	packets.Add(1)
	s.counters.bytes.Add(uint64(n))
}

// uncountRelayed moves a packet whose write failed from relayed to dropped.
func (s *Session) uncountRelayed(packets *atomic.Uint64, n int) {
	packets.Add(^uint64(0))
	s.counters.bytes.Add(^uint64(n - 1))
	s.counters.dropWrite.Add(1)
}

// logLatch notes a latch at Debug level. It runs once per SDP and socket,
// never per packet.
func (s *Session) logLatch(kind string, l *leg, src netip.AddrPort) {
	s.log.Debug("latched peer", "socket", kind, "local_port", l.port, "peer", src.String())
}
