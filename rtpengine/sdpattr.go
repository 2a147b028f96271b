package rtpengine

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// direction returns the direction attribute (RFC 3264 §5.1) among attrs,
// or "" if none. Direction must pass through earshot unchanged: hold and
// resume are expressed with it.
func direction(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return ""
}

// holdDirection is the direction equivalent to dir for a stream whose
// connection address is 0.0.0.0 (RFC 3264 §8.4, the RFC 2543 way of putting
// a call on hold): the peer will not receive, so it can at most send.
func holdDirection(dir string) string {
	switch dir {
	case "recvonly", "inactive":
		return "inactive"
	default:
		return "sendonly"
	}
}

// keptAttributes is the allow-list of media attributes earshot forwards:
// codec descriptions of the kept formats, packetisation time and silence
// suppression. Everything else is dropped on purpose — ICE candidates and
// credentials, a=rtcp, a=rtcp-mux, a=ssrc, crypto and DTLS attributes, BUNDLE
// ids — because it describes the far peer's transport, not earshot's.
// Direction is added back by the caller. rtcp-fb is kept for RTP/AVPF.
func keptAttributes(attrs []sdp.Attribute, formats []string, avpf bool) []sdp.Attribute {
	var out []sdp.Attribute
	for _, a := range attrs {
		switch a.Key {
		case "ptime", "maxptime", "silenceSupp":
			out = append(out, a)
		case "rtpmap", "fmtp":
			// An fmtp without parameters says nothing: dropped.
			if slices.Contains(formats, firstField(a.Value)) && (a.Key == "rtpmap" || strings.TrimSpace(a.Value) != firstField(a.Value)) {
				out = append(out, a)
			}
		case "rtcp-fb":
			if pt := firstField(a.Value); avpf && (pt == "*" || slices.Contains(formats, pt)) {
				out = append(out, a)
			}
		}
	}
	return out
}

// firstField returns s up to its first space.
func firstField(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// readRemote reads the peer's RTP and RTCP addresses and clock rates from
// the anchored m-line md. family is earshot's advertised address: a peer of
// the other IP family could not be reached from earshot's sockets.
func readRemote(desc *sdp.SessionDescription, md *sdp.MediaDescription, family netip.Addr) (remoteMedia, error) {
	conn := md.ConnectionInformation
	if conn == nil {
		conn = desc.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return remoteMedia{}, newError(ErrBadAddress, "no c= line for audio")
	}
	addr, err := netip.ParseAddr(conn.Address.Address)
	if err != nil {
		return remoteMedia{}, newError(ErrBadAddress, "c= is not an IP address")
	}
	addr = addr.Unmap()
	if addr.Is4() != family.Is4() {
		return remoteMedia{}, newError(ErrBadAddress, "c= address family not reachable")
	}
	if !addr.IsUnspecified() {
		if err := mediaTarget(addr, md.MediaName.Port.Value, family); err != nil {
			return remoteMedia{}, err
		}
	}
	remote := remoteMedia{rtpmaps: readRates(md), media: noMedia}
	if addr.IsUnspecified() {
		return remote, nil // 0.0.0.0 hold: latching will find the peer if it sends
	}
	port := md.MediaName.Port.Value
	remote.rtp = netip.AddrPortFrom(addr, uint16(port))
	if port < 65535 {
		remote.rtcp = netip.AddrPortFrom(addr, uint16(port+1))
	}
	if v, ok := md.Attribute("rtcp"); ok {
		if rtcp, ok := parseRTCPAttr(v, addr); ok {
			if err := mediaTarget(rtcp.Addr(), int(rtcp.Port()), family); err != nil {
				return remoteMedia{}, err
			}
			remote.rtcp = rtcp
		}
	}
	return remote, nil
}

// ptRate is the clock rate an rtpmap line gives a payload type.
type ptRate struct {
	pt   uint8
	rate uint32
}

// readRates is the clock rates of an m-line's rtpmap lines, in order.
func readRates(md *sdp.MediaDescription) []ptRate {
	var out []ptRate
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" {
			if pt, rate, ok := parseRtpmap(a.Value); ok {
				out = append(out, ptRate{pt, rate})
			}
		}
	}
	return out
}

// rateTable is the clock-rate table of the peer's m-line: the static
// payload types' and those of its rtpmap lines (a later line wins).
func (r *remoteMedia) rateTable() clockRates {
	t := staticRates
	for _, m := range r.rtpmaps {
		t[m.pt] = m.rate
	}
	return t
}

// mediaTarget refuses an SDP address earshot must never send media to,
// so that nobody can use it as a reflector (ErrBadAddress, SIP 488):
// broadcast, multicast, link-local (which holds cloud metadata services,
// 169.254.169.254), the "this network" block, and privileged ports (a
// third party's service, not a phone). Loopback is a target only for an
// earshot that itself advertises a loopback address (a test or a
// single-host demo); from anywhere else it would reach earshot's own host.
func mediaTarget(addr netip.Addr, port int, local netip.Addr) error {
	switch {
	case addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return newError(ErrBadAddress, "c= is a broadcast or multicast address")
	case addr.IsLinkLocalUnicast() || addr.IsInterfaceLocalMulticast():
		return newError(ErrBadAddress, "c= is a link-local address")
	case addr.Is4() && addr.As4()[0] == 0:
		return newError(ErrBadAddress, "c= is in 0.0.0.0/8")
	case addr.IsLoopback() && !local.IsLoopback():
		return newError(ErrBadAddress, "c= is a loopback address")
	case port < 1024:
		return newError(ErrBadAddress, "media port below 1024")
	}
	return nil
}

// parseRTCPAttr parses "a=rtcp:<port> [IN IP4 <addr>]" (RFC 3605).
func parseRTCPAttr(v string, def netip.Addr) (netip.AddrPort, bool) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(fields[0], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, false
	}
	addr := def
	if len(fields) == 4 {
		a, err := netip.ParseAddr(fields[3])
		if err != nil || a.Unmap().Is4() != def.Is4() || a.IsUnspecified() {
			return netip.AddrPort{}, false
		}
		addr = a.Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// parseRtpmap reads the payload type and clock rate of
// "a=rtpmap:<pt> <name>/<rate>[/<ch>]"; ok is false for anything else.
func parseRtpmap(v string) (pt uint8, rate uint32, ok bool) {
	ptStr, rest, ok := strings.Cut(v, " ")
	if !ok {
		return 0, 0, false
	}
	p, err := strconv.ParseUint(ptStr, 10, 7)
	if err != nil {
		return 0, 0, false
	}
	_, rest, ok = strings.Cut(strings.TrimSpace(rest), "/")
	if !ok {
		return 0, 0, false
	}
	rateStr, _, _ := strings.Cut(rest, "/")
	r, err := strconv.ParseUint(rateStr, 10, 32)
	if err != nil || r == 0 {
		return 0, 0, false
	}
	return uint8(p), uint32(r), true
}

// staticRates are the clock rates of the static payload types (RFC 3551
// §6), used when an SDP omits their rtpmap. A read-only table: it is
// copied (it is an array) or shared as a new session's table, never
// written.
var staticRates = clockRates{
	0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000,
	10: 44100, 11: 44100, 12: 8000, 13: 8000, 14: 90000, 15: 8000,
	16: 11025, 17: 22050, 18: 8000,
}
