package b2bua

import (
	"net/netip"
	"slices"
)

// peerSet is who may send requests inside one dialog. A dialog's Call-ID
// and tags travel in clear text, so knowing them proves nothing: a
// re-INVITE carrying them from anywhere else would re-point the call's
// media at its sender (call hijack). Requests inside a dialog must come
// from the peer it was made with: the address its creating request or
// response came from or went to, and, for a trunk's dialog, any of the
// trunk's configured sources (a carrier's cluster may send the BYE from
// another node than the INVITE). Addresses, not ports: a phone on TCP may
// reconnect from another port, and a proxy in front keeps its address.
type peerSet struct {
	ips   []netip.Addr
	trunk *Trunk
}

// add records the host of addr ("ip:port") as a peer. Anything that is
// not an IP literal adds nothing.
func (p *peerSet) add(addr string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return
	}
	ip := ap.Addr().Unmap()
	if !slices.Contains(p.ips, ip) {
		p.ips = append(p.ips, ip)
	}
}

// allows reports whether a request from src ("ip:port", as sipgo gives a
// request's source) may act on the dialog.
func (p *peerSet) allows(src string) bool {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	if slices.Contains(p.ips, ip) {
		return true
	}
	if p.trunk != nil {
		for _, pre := range p.trunk.Sources {
			if pre.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// sourceIP returns the IP of a message's source ("ip:port"), or the zero
// Addr if it is not an IP literal.
func sourceIP(src string) netip.Addr {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// signalFrom tells the media session where side's signalling comes from
// (src is a message's source), so that RTP latching can trust it for a
// phone behind NAT. A closed session refuses, and then there is no media
// to latch.
func (c *Call) signalFrom(side int, src string) {
	if err := c.media.SetSignalSource(side, sourceIP(src)); err != nil {
		c.log.Debug("signal source not set", "leg", side, "err", err)
	}
}
