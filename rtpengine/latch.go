package rtpengine

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Latching decides which source address becomes a socket's peer — the only
// source accepted from then on, and the destination of what earshot sends.
// A relay that latches onto whatever sends first is the RTP-bleed hole
// (CVE-2017-14099 in Asterisk, CVE-2025-53399 in rtpengine): anyone who
// sprays the port range during call set-up receives the call's media. So a
// source latches only if it is consistent with what the leg's signalling
// said:
//
//   - the exact address and port of the SDP latch at once;
//   - under LatchNAT (the default), a source on the SDP's IP or on the IP the
//     leg's signalling comes from (SetSignalSource), at any port, latches
//     after natProbation consecutive RTP packets of one SSRC with sequence
//     numbers +1 and a negotiated payload type. This is what a phone behind
//     NAT looks like: a private address in its SDP, packets from its
//     router's public address at a port the router chose;
//   - RTCP latches on the SDP's RTCP address at once, or, under LatchNAT, on
//     any port of the IP the leg's RTP latched to: a forged RTCP from
//     anywhere else is dropped;
//   - nothing latches before the leg's peer sent SDP or signalling, and a
//     latched peer is replaced by new SDP naming another address (a
//     re-INVITE or UPDATE). SDP that repeats the address the peer latched
//     under (a session refresh, hold and resume) keeps the latch;
//   - under LatchNAT, one bounded NAT-rebinding rule: when a NAT router
//     gives a phone's stream a new port mid-call, the latched port falls
//     silent and the same stream arrives from the new one. A source on the
//     latched peer's IP re-latches RTP only after the peer sent nothing
//     for rebindSilence, and only after natProbation consecutive packets
//     carrying the SSRC the peer last sent, sequence +1 (an attacker on
//     another host never qualifies; one behind the same NAT must also
//     know the SSRC and wait out a silent stream). RTCP then follows RTP
//     to the new port's IP as it does at the first latch.
//
// Every packet refused is counted in Drops.Source.

// LatchMode chooses which sources may become a leg's peer (see above).
type LatchMode int

// Latch modes.
const (
	// LatchNAT latches the SDP's exact source at once, and after a probation
	// a source on the SDP's or the signalling's IP at another port. The
	// default.
	LatchNAT LatchMode = iota
	// LatchStrict latches only the SDP's exact source: for deployments
	// where no peer is behind NAT.
	LatchStrict
)

// natProbation is how many consecutive packets a source that is not the
// SDP's exact address must send before it latches (Asterisk's strictrtp
// probation is of the same order). At 20 ms packets it costs the first
// 60 ms of a NATed phone's audio.
const natProbation = 3

// rebindSilence is how long a latched RTP peer must have sent nothing
// before a NAT rebinding may move its latch (see above): far longer than
// packet jitter, far shorter than a media timeout.
const rebindSilence = int64(time.Second)

// peer is where a socket sends and what may latch on it. A peer is
// immutable: a change swaps the whole pointer, so the relay reads it
// without a lock.
type peer struct {
	addr    netip.AddrPort // where to send; zero: nowhere yet
	latched bool           // addr was learnt from a received packet
	// want is the source the SDP named; zero when the SDP named none
	// (0.0.0.0 hold keeps the previous one) or before any SDP.
	want netip.AddrPort
	// nat are the IPs that may latch at another port than want's after
	// probation (the SDP's and the signalling's); zero entries are unused.
	nat [2]netip.Addr
	// beside is, for an RTCP peer latched under the NAT rule, the RTP
	// peer it latched beside: when RTP re-latches (NAT rebinding), RTCP
	// may follow to the new RTP peer's IP.
	beside netip.AddrPort
}

// natIP reports whether a may latch after probation.
func (p *peer) natIP(a netip.Addr) bool {
	return a.IsValid() && (p.nat[0] == a || p.nat[1] == a)
}

// probation is the state of a NAT candidate, owned by the socket's reader.
type probation struct {
	under *peer // the peer it started under; any SDP change restarts it
	src   netip.AddrPort
	ssrc  uint32
	seq   uint16
	count int
}

// endpoint is one of earshot's sockets on a leg with the peer address it
// talks to.
type endpoint struct {
	conn  *udpSock
	dest  atomic.Pointer[peer]
	probe probation // owned by the socket's reader
	// heard is when the latched peer's last accepted packet came, and
	// ssrc its SSRC (RTP), for the NAT-rebinding rule; owned by the
	// socket's reader.
	heard int64
	ssrc  uint32
}

// reset installs what new SDP says about the peer: sdp is the address it
// named (zero for none or 0.0.0.0 hold), nat the IPs that may latch after
// probation. SDP naming the address the current peer latched under keeps
// the latch; any other re-opens latching, with earshot sending to the new
// address until a packet latches. 0.0.0.0 keeps expecting the previous
// address, so a held peer that still sends is recognised. Called under the session's mutex.
func (ep *endpoint) reset(sdp netip.AddrPort, nat [2]netip.Addr) {
	cur := ep.dest.Load()
	next := &peer{addr: sdp, want: sdp, nat: nat}
	switch {
	case cur != nil && cur.latched && sdp.IsValid() && sdp == cur.want:
		// A refresh, or hold and resume by direction: the latch stands.
		next.addr, next.latched = cur.addr, true
	case !sdp.IsValid() && cur != nil:
		// 0.0.0.0 hold: send nothing, but recognise the peer if it sends.
		next.want = cur.want
	}
	ep.dest.Store(next)
}

// setNAT replaces the IPs that may latch after probation, keeping the rest.
// Called under the session's mutex.
func (ep *endpoint) setNAT(nat [2]netip.Addr) {
	cur := ep.dest.Load()
	next := &peer{nat: nat}
	if cur != nil {
		next.addr, next.latched, next.want = cur.addr, cur.latched, cur.want
	}
	ep.dest.Store(next)
}

// acceptRTP applies latching to a valid RTP packet pkt from src (see the
// top of this file). media is what the leg negotiated, for the payload
// type check of probation. It reports whether the packet is accepted and
// whether it latched.
func (ep *endpoint) acceptRTP(src netip.AddrPort, pkt []byte, media *legMedia, now int64) (ok, latched bool) {
	cur := ep.dest.Load()
	h := readRTP(pkt)
	rebind := false
	if cur != nil && cur.latched && src != cur.addr {
		// Only the NAT-rebinding rule may move a latched peer.
		if !cur.natIP(src.Addr()) || src.Addr() != cur.addr.Addr() || h.ssrc != ep.ssrc || now-ep.heard < rebindSilence {
			return false, false
		}
		rebind = true
	} else if ok, latched, decided := ep.settled(cur, src); decided {
		if ok {
			ep.heard, ep.ssrc = now, h.ssrc
		}
		return ok, latched
	}
	if !cur.natIP(src.Addr()) {
		return false, false
	}
	pt := int(pkt[1] & 0x7f)
	if media.audioPT >= 0 && pt != media.audioPT && pt != media.dtmfPT {
		return false, false
	}
	p := &ep.probe
	if p.under != cur || p.src != src || p.ssrc != h.ssrc || h.seq != p.seq+1 {
		*p = probation{under: cur, src: src, ssrc: h.ssrc, seq: h.seq, count: 1}
		return false, false
	}
	p.seq = h.seq
	if p.count++; p.count < natProbation {
		return false, false
	}
	if rebind {
		// The latch moves to the new port; the rest of the peer stays.
		if !ep.dest.CompareAndSwap(cur, &peer{addr: src, latched: true, want: cur.want, nat: cur.nat}) {
			return false, false
		}
	} else if !ep.latch(cur, src) {
		return false, true
	}
	ep.heard, ep.ssrc = now, h.ssrc
	return true, true
}

// acceptRTCP applies latching to a valid RTCP packet from src. rtp is the
// same leg's RTP peer: under LatchNAT, RTCP latches at any port of the IP
// that RTP latched to.
func (ep *endpoint) acceptRTCP(src netip.AddrPort, rtp *peer) (ok, latched bool) {
	cur := ep.dest.Load()
	if cur == nil {
		return false, false // nothing latches before SDP
	}
	var beside netip.AddrPort
	if rtp != nil && rtp.latched {
		beside = rtp.addr
	}
	nat := beside.IsValid() && cur.natIP(beside.Addr()) && beside.Addr() == src.Addr()
	switch {
	case cur.latched && src == cur.addr:
		return true, false
	case cur.latched:
		// Only RTP moved by NAT rebinding since RTCP latched beside it
		// lets RTCP follow, to the new RTP peer's IP.
		if !nat || !cur.beside.IsValid() || beside == cur.beside {
			return false, false
		}
	case src == cur.want:
		// The SDP's exact RTCP address.
	case !nat:
		return false, false
	}
	if !ep.dest.CompareAndSwap(cur, &peer{addr: src, latched: true, want: cur.want, nat: cur.nat, beside: beside}) {
		return false, true // a concurrent SDP change won
	}
	return true, true
}

// settled applies the rules RTP and RTCP share: nothing is accepted before
// the peer's SDP, only the peer once latched, and the SDP's exact source
// latches at once. decided is false when the NAT rules must say.
func (ep *endpoint) settled(cur *peer, src netip.AddrPort) (ok, latched, decided bool) {
	switch {
	case cur == nil:
		return false, false, true
	case cur.latched:
		return cur.addr == src, false, true
	case src == cur.want:
		return ep.latch(cur, src), true, true
	}
	return false, false, false
}

// latch makes src the peer if cur is still current; a concurrent SDP
// change wins, and the packet is then refused. One allocation per latch,
// i.e. per SDP, never per packet.
func (ep *endpoint) latch(cur *peer, src netip.AddrPort) bool {
	return ep.dest.CompareAndSwap(cur, &peer{addr: src, latched: true, want: cur.want, nat: cur.nat})
}
