package rtpengine

import (
	"slices"
	"strconv"
	"strings"

	"github.com/earshot/earshot/rtpengine/webrtc"
	"github.com/pion/sdp/v3"
)

// WebRTC profiles (RFC 5764 §8, RFC 8843): RTP over DTLS-SRTP, with
// feedback (what browsers offer) or without.
var webrtcProtos = [][]string{{"UDP", "TLS", "RTP", "SAVPF"}, {"UDP", "TLS", "RTP", "SAVP"}}

// isWebRTC reports whether an m-line profile is DTLS-SRTP, the transport
// of WebRTC that earshot terminates.
func isWebRTC(protos []string) bool {
	for _, p := range webrtcProtos {
		if slices.Equal(protos, p) {
			return true
		}
	}
	return false
}

// remoteWebRTC is what a WebRTC peer's SDP says about its transport.
type remoteWebRTC struct {
	creds       webrtc.Credentials
	fingerprint webrtc.Fingerprint
	setup       string   // a=setup: actpass, active or passive
	protos      []string // the profile it used, answered in kind
	mids        []string // a=mid of every m-line, by index ("" where none)
	bundle      bool     // the anchored m-line is in an a=group:BUNDLE
}

// readWebRTC reads the transport attributes of the WebRTC m-line md of
// desc; media-level attributes override session-level ones (RFC 8839,
// RFC 8122). ErrBadWebRTC names what is missing.
func readWebRTC(desc *sdp.SessionDescription, md *sdp.MediaDescription) (remoteWebRTC, error) {
	attr := func(key string) string {
		if v, ok := md.Attribute(key); ok {
			return strings.TrimSpace(v)
		}
		v, _ := desc.Attribute(key)
		return strings.TrimSpace(v)
	}
	w := remoteWebRTC{
		creds:  webrtc.Credentials{Ufrag: attr("ice-ufrag"), Pwd: attr("ice-pwd")},
		setup:  strings.ToLower(attr("setup")),
		protos: slices.Clone(md.MediaName.Protos),
	}
	if err := w.creds.Validate(); err != nil {
		return remoteWebRTC{}, newError(ErrBadWebRTC, err.Error())
	}
	fp, err := webrtc.ParseFingerprint(attr("fingerprint"))
	if err != nil {
		return remoteWebRTC{}, newError(ErrBadWebRTC, err.Error())
	}
	w.fingerprint = fp
	switch w.setup {
	case "actpass", "active", "passive":
	case "":
		w.setup = "active" // RFC 4145 §4: the default
	default:
		return remoteWebRTC{}, newError(ErrBadWebRTC, "a=setup:"+w.setup)
	}
	if _, ok := md.Attribute("rtcp-mux"); !ok {
		return remoteWebRTC{}, newError(ErrBadWebRTC, "no a=rtcp-mux")
	}
	mid, _ := md.Attribute("mid")
	for _, m := range desc.MediaDescriptions {
		v, _ := m.Attribute("mid")
		w.mids = append(w.mids, v)
	}
	if g, ok := desc.Attribute("group"); ok && mid != "" {
		f := strings.Fields(g)
		w.bundle = len(f) > 1 && f[0] == "BUNDLE" && slices.Contains(f[1:], mid)
	}
	return w, nil
}

// localWebRTC is what earshot writes into the SDP it sends on a WebRTC
// leg: its ICE-lite credentials and host candidate, its certificate's
// fingerprint, its DTLS role, and the peer's mids (an answer repeats
// them, RFC 8843).
type localWebRTC struct {
	creds       webrtc.Credentials
	fingerprint string // "sha-256 AB:…"
	setup       string // "passive" or "active"
	protos      []string
	mids        []string
	bundle      bool
	ssrc        uint32 // the leg's output SSRC, announced with a=ssrc
}

// dtlsRole is earshot's a=setup answering a peer's: passive unless the
// peer wants to be the server (RFC 5763 §5: an answerer should prefer
// active, but an ICE-lite server waiting for the browser's ClientHello
// needs no timing between ICE and DTLS).
func dtlsRole(peer string) string {
	if peer == "passive" {
		return "active"
	}
	return "passive"
}

// decorateWebRTC turns earshot's SDP for a leg into WebRTC's: the
// profile, ICE-lite with one host candidate on the leg's port, the
// fingerprint, a=setup, a=rtcp-mux, mids and BUNDLE. index is the
// anchored m-line (-1: none).
func decorateWebRTC(out *sdp.SessionDescription, index int, p sdpParams) {
	w := p.wrtc
	out.Attributes = append(out.Attributes, sdp.NewPropertyAttribute("ice-lite"))
	for i, md := range out.MediaDescriptions {
		if i < len(w.mids) && w.mids[i] != "" {
			md.Attributes = append([]sdp.Attribute{sdp.NewAttribute("mid", w.mids[i])}, md.Attributes...)
		}
		if i != index {
			continue
		}
		md.MediaName.Protos = slices.Clone(w.protos)
		setup := w.setup
		if p.offer {
			// RFC 8842 §5.2: an offer leaves the role to the answerer;
			// one that keeps it (the peer active) keeps the transport.
			setup = "actpass"
		}
		if w.bundle {
			out.Attributes = append(out.Attributes, sdp.NewAttribute("group", "BUNDLE "+w.mids[i]))
		}
		cand := "1 1 udp 2130706431 " + p.addr.String() + " " + strconv.Itoa(p.port) + " typ host"
		ssrc := strconv.FormatUint(uint64(w.ssrc), 10)
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("ice-ufrag", w.creds.Ufrag),
			sdp.NewAttribute("ice-pwd", w.creds.Pwd),
			sdp.NewAttribute("fingerprint", w.fingerprint),
			sdp.NewAttribute("setup", setup),
			sdp.NewPropertyAttribute("rtcp-mux"),
			sdp.NewAttribute("candidate", cand),
			sdp.NewPropertyAttribute("end-of-candidates"),
			sdp.NewAttribute("ssrc", ssrc+" cname:earshot"),
		)
	}
}
