package rtpengine

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// onRTP is the per-packet path for RTP received on leg in. It must not
// allocate. A packet from the customer or the agent is relayed to the other
// of the two while the relay owns that leg's stream, handed to the mixer
// while in's audio feeds it (both at once while the mixer primes), and a
// telephone-event is inserted into the other's mixed stream. A supervisor
// leg's audio only ever goes to the mixer and its telephone-events to
// onDigit. b is the receive loop's batch the relayed packet may be queued
// in, or nil to send it at once.
func (s *Session) onRTP(in *leg, pkt []byte, src netip.AddrPort, b *sendBatch) {
	if len(pkt) >= readBufSize || !validRTP(pkt) {
		s.counters.dropMalformed.Add(1)
		return
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	m := in.media.Load()
	now := s.eng.nanotime()
	if s.eng.kern != nil {
		s.kernelHeard(in)
		s.dropHeard(in)
	}
	ok, latched := in.rtp.acceptRTP(src, pkt, m, now)
	if !ok {
		s.counters.dropSource.Add(1)
		return
	}
	if latched {
		s.logLatch("rtp", in, src)
		// The other leg's stream, if the kernel feeds it, still goes to
		// in's old peer; a listener's drop entry names the old peer.
		s.reclaimAll()
		s.undrop(in)
	}
	s.relayRTP(in, pkt, m, now, b)
}

// relayRTP is the packet path of a valid RTP packet from in's accepted
// peer, received at now (engine clock): relay, mixer, digits (see onRTP).
// b, if not nil, is the receive loop's batch (loops have one only while
// the in-kernel relay is off): the packet is queued there (unless it goes
// to a WebRTC leg) and sent with
// the others of the loop's wait, so pkt must stay untouched until the
// loop sends its batch.
func (s *Session) relayRTP(in *leg, pkt []byte, m *legMedia, now int64, b *sendBatch) {
	in.lastRecv.Store(now)
	pt := int(pkt[1] & 0x7f)
	pair := s.pair.Load()
	out := otherOf(pair, in)
	if out == nil {
		s.fromSupervisor(in, m, pkt, pt)
		return
	}
	if out.out.kern.on.Load() {
		// The kernel left this packet to userspace: the stream comes
		// back before it is handled (kernelpath.go).
		s.reclaim(out)
	}
	if in.onDigit != nil && pt == m.dtmfPT && in.digits.consumed(pkt) {
		return // a promoted supervisor's mode digit
	}
	if fn := in.digitFn.Load(); fn != nil && pt == m.dtmfPT {
		in.digits.receive(pkt, *fn)
	}
	pushed := false
	if ml := in.mixLeg.Load(); ml != nil && pt == m.audioPT {
		pushed = s.push(in, pkt)
	}
	dst := out.rtp.dest.Load()
	if dst == nil || !dst.addr.IsValid() {
		if !pushed {
			s.counters.dropNoDest.Add(1)
		}
		return
	}
	rates := s.rates.Load()
	relayed, rebased := out.out.relay(pkt, now, rates, b)
	if !relayed {
		// The mixer sends on out. Only a telephone-event still goes
		// through, inserted between the mixer's frames.
		if pt != m.dtmfPT || !out.out.event(pkt, now, rates, b) {
			if !pushed {
				s.counters.dropNotMixed.Add(1)
			}
			return
		}
	}
	to := partyOf(pair, out)
	s.countRelayed(&s.counters.rtpPackets, to, len(pkt))
	var err error
	if b != nil && out.wrtc.Load() == nil {
		// A failed send is taken back when the loop sends its batch.
		err = b.add(out.rtp.conn, out.out, pkt, dst.addr, s, to, false)
	} else {
		err = out.sendRTP(pkt, dst.addr)
	}
	if err != nil {
		s.uncountRelayed(&s.counters.rtpPackets, to, len(pkt))
	}
	if relayed && s.eng.kern != nil {
		s.maybeOffload(in, out, m, pt, rebased, rates)
	}
	out.out.sent()
}

// fromSupervisor handles RTP from a leg added by NewLeg: a telephone-event
// is reported, audio goes to the mixer if the leg is attached, anything
// else is dropped.
func (s *Session) fromSupervisor(in *leg, m *legMedia, pkt []byte, pt int) {
	switch {
	case pt == m.dtmfPT:
		in.digits.receive(pkt, in.onDigit)
	case pt == m.audioPT && in.mixLeg.Load() != nil:
		s.push(in, pkt)
		if s.eng.kern != nil && in.listening.Load() && !in.drop.on.Load() {
			s.dropListener(in, pt)
		}
	default:
		s.counters.dropNotMixed.Add(1)
	}
}

// push hands an audio packet to the leg's mixer leg. The mixer copies the
// payload, so the read buffer is free again when push returns.
func (s *Session) push(in *leg, pkt []byte) bool {
	ml := in.mixLeg.Load()
	if ml == nil {
		return false
	}
	h := readRTP(pkt)
	if !ml.Push(rtpPayload(pkt), h.seq, h.ts, h.ssrc, pkt[1]&0x80 != 0, time.Now()) {
		s.counters.dropMixerFull.Add(1)
		return false
	}
	s.counters.mixerIn.Add(1)
	return true
}

// onRTCP relays one compound RTCP packet between the customer and the agent,
// translating SSRCs, timestamps and report blocks (see rtcpXlate). RTCP
// from a supervisor leg latches (see latch.go) and is dropped: earshot does not report on
// the streams it mixes.
func (s *Session) onRTCP(in *leg, pkt []byte, src netip.AddrPort) {
	if len(pkt) >= readBufSize || !rewriteRTCP(pkt, nil) {
		s.counters.dropMalformed.Add(1)
		return
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	ok, latched := in.rtcp.acceptRTCP(src, in.rtp.dest.Load())
	if !ok {
		s.counters.dropSource.Add(1)
		return
	}
	if latched {
		s.logLatch("rtcp", in, src)
	}
	s.relayRTCP(in, pkt)
}

// relayRTCP relays a valid RTCP packet from in's accepted peer (see
// onRTCP).
func (s *Session) relayRTCP(in *leg, pkt []byte) {
	in.lastRecv.Store(s.eng.nanotime())
	pair := s.pair.Load()
	out := otherOf(pair, in)
	if out == nil {
		return
	}
	dst := out.rtcp.dest.Load()
	if dst == nil || !dst.addr.IsValid() {
		s.counters.dropNoDest.Add(1)
		return
	}
	x := rtcpXlate{fwd: out.out.view(), rev: in.out.view()}
	rewriteRTCP(pkt, &x)
	to := partyOf(pair, out)
	s.countRelayed(&s.counters.rtcpPackets, to, len(pkt))
	if err := out.sendRTCP(pkt, dst.addr); err != nil {
		s.uncountRelayed(&s.counters.rtcpPackets, to, len(pkt))
	}
}

// countRelayed counts a packet as sent before it is written, so that
// whoever receives it (a test, a monitoring probe) already sees it counted.
func (s *Session) countRelayed(packets *[NumParties]atomic.Uint64, to Party, n int) {
	packets[to].Add(1)
	s.counters.bytes[to].Add(uint64(n))
}

// uncountRelayed moves a packet whose write failed from sent to dropped.
func (s *Session) uncountRelayed(packets *[NumParties]atomic.Uint64, to Party, n int) {
	packets[to].Add(^uint64(0))
	s.counters.bytes[to].Add(^uint64(n - 1))
	s.counters.dropWrite.Add(1)
}

// logLatch notes a latch at Debug level. It runs once per SDP and socket,
// never per packet.
func (s *Session) logLatch(kind string, l *leg, src netip.AddrPort) {
	s.log.Debug("latched peer", "socket", kind, "leg", l.id, "local_port", l.port, "peer", src.String())
}
