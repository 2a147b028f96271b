package rtpengine

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// sdpParams is what the rewrite needs to know about earshot's side of the
// leg the SDP is sent on.
type sdpParams struct {
	addr netip.Addr // advertised address, written into c=
	port int        // earshot's RTP port on that leg
	// wrtc, when not nil, makes the SDP WebRTC's (sdpwebrtc.go): the
	// leg's peer is a browser.
	wrtc *localWebRTC
	// offer: the SDP is an offer (a WebRTC one says a=setup:actpass).
	offer bool
}

// remoteMedia is what a received SDP says about the peer's audio stream.
type remoteMedia struct {
	rtp     netip.AddrPort // zero when the peer gave no address (rejected, or 0.0.0.0 hold)
	rtcp    netip.AddrPort
	formats []string // payload types of the anchored stream
	// rtpmaps are the m-line's rtpmap clock rates, in order; with the
	// static table they make the clock-rate table (rateTable). Kept
	// sparse: a whole table is 512 bytes in every leg.
	rtpmaps []ptRate
	media   legMedia // the codec an answer settled (noMedia for an offer)
	// offered is an offer's first G.711 format and its telephone-event:
	// what the offerer gets if the answerer picks the other law.
	offered legMedia
	// webrtc is the peer's DTLS-SRTP transport when its stream is
	// WebRTC's; nil for plain RTP. Its address then comes from ICE, not
	// from c= (rtp and rtcp stay zero).
	webrtc *remoteWebRTC
}

// offerPlan remembers the shape of an offer so the answer can be checked
// against it (RFC 3264 §6: same m-lines, formats a subset of the offer's).
type offerPlan struct {
	count   int      // number of m-lines
	index   int      // the anchored audio m-line
	formats []string // its payload types
	webrtc  bool     // the offer was WebRTC's: so must the answer be
	// either: the offer went out in both forms (webrtcoffer.go), so the
	// answer may be plain or WebRTC's; webrtcOffer is its WebRTC form.
	either      bool
	webrtcOffer []byte
}

// rewriteOffer parses an offer received from a peer and builds the offer
// earshot sends to the other peer. The o= line is left for the caller to
// stamp (see sdpStamp). It anchors the first plain-RTP audio stream with a
// port; every other m-line is rejected (port 0).
func rewriteOffer(in []byte, p sdpParams) (*sdp.SessionDescription, remoteMedia, offerPlan, error) {
	p.offer = true
	desc, err := parseSDP(in)
	if err != nil {
		return nil, remoteMedia{}, offerPlan{}, err
	}
	index, err := audioLine(desc, true)
	if err != nil {
		return nil, remoteMedia{}, offerPlan{}, err
	}
	md := desc.MediaDescriptions[index]
	var remote remoteMedia
	if isWebRTC(md.MediaName.Protos) {
		w, err := readWebRTC(desc, md)
		if err != nil {
			return nil, remoteMedia{}, offerPlan{}, err
		}
		remote = remoteMedia{rtpmaps: readRates(md), media: noMedia, webrtc: &w}
	} else if remote, err = readRemote(desc, md, p.addr); err != nil {
		return nil, remoteMedia{}, offerPlan{}, err
	}
	if remote.formats, err = cleanFormats(md); err != nil {
		return nil, remoteMedia{}, offerPlan{}, err
	}
	remote.offered = pickMedia(md, remote.formats, false)
	fwd := addOtherLaw(md, remote.formats) // transcode.go
	out := buildSDP(desc, index, fwd, remote.rtp.IsValid() || remote.webrtc != nil, p)
	plan := offerPlan{count: len(desc.MediaDescriptions), index: index, formats: fwd, webrtc: p.wrtc != nil}
	return out, remote, plan, nil
}

// audioLine finds the m-line earshot anchors in an offer: the first
// plain-RTP audio stream with a port and formats, or with webrtc the
// first WebRTC one too (the Offer of a call leg). ErrSRTPOnly (488) if
// audio was offered only over secure profiles earshot does not take here,
// ErrNoAudio (488) if not at all.
func audioLine(desc *sdp.SessionDescription, webrtc bool) (int, error) {
	secure := false
	for i, md := range desc.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 || len(md.MediaName.Formats) == 0 {
			continue
		}
		if plainRTP(md.MediaName.Protos) || (webrtc && isWebRTC(md.MediaName.Protos)) {
			return i, nil
		}
		secure = true
	}
	if secure {
		return -1, newError(ErrSRTPOnly, "")
	}
	return -1, newError(ErrNoAudio, "")
}

// rewriteAnswer parses an answer received from a peer, checks it against
// the plan of the offer earshot sent to that peer, and builds the answer
// earshot sends to the other peer.
func rewriteAnswer(in []byte, plan offerPlan, p sdpParams) (*sdp.SessionDescription, remoteMedia, error) {
	desc, err := parseSDP(in)
	if err != nil {
		return nil, remoteMedia{}, err
	}
	if len(desc.MediaDescriptions) != plan.count {
		return nil, remoteMedia{}, newError(ErrAnswerMismatch, "number of m-lines differs from the offer")
	}
	md := desc.MediaDescriptions[plan.index]
	if md.MediaName.Media != "audio" {
		return nil, remoteMedia{}, newError(ErrAnswerMismatch, "audio m-line answered with "+md.MediaName.Media)
	}
	if md.MediaName.Port.Value == 0 {
		// The peer rejected audio: pass the rejection on; nothing to send to.
		return buildSDP(desc, -1, nil, false, p), remoteMedia{media: noMedia}, nil
	}
	wantWebRTC := plan.webrtc || (plan.either && isWebRTC(md.MediaName.Protos))
	if wantWebRTC != isWebRTC(md.MediaName.Protos) || (!wantWebRTC && !plainRTP(md.MediaName.Protos)) {
		return nil, remoteMedia{}, newError(ErrAnswerMismatch, "audio answered with profile "+strings.Join(md.MediaName.Protos, "/"))
	}
	var formats []string
	for _, f := range md.MediaName.Formats {
		if slices.Contains(plan.formats, f) {
			formats = append(formats, f)
		}
	}
	if len(formats) == 0 {
		return nil, remoteMedia{}, newError(ErrNoCommonCodec, "")
	}
	var remote remoteMedia
	if wantWebRTC {
		w, err := readWebRTC(desc, md)
		if err != nil {
			return nil, remoteMedia{}, err
		}
		remote = remoteMedia{rtpmaps: readRates(md), media: noMedia, webrtc: &w}
	} else if remote, err = readRemote(desc, md, p.addr); err != nil {
		return nil, remoteMedia{}, err
	}
	remote.formats = formats
	remote.media = pickMedia(md, formats, false)
	return buildSDP(desc, plan.index, formats, remote.rtp.IsValid() || remote.webrtc != nil, p), remote, nil
}

// parseSDP parses a received SDP. An empty body, which pion accepts as an
// empty description, is unparseable too. A missing final line break, which
// pion rejects but some stacks send, is tolerated.
func parseSDP(in []byte) (*sdp.SessionDescription, error) {
	if len(bytes.TrimSpace(in)) == 0 {
		return nil, newError(ErrUnparseableSDP, "empty body")
	}
	if err := checkSDPSize(in); err != nil {
		return nil, err
	}
	if in[len(in)-1] != '\n' {
		in = append(slices.Clip(in), '\r', '\n')
	}
	desc := new(sdp.SessionDescription)
	if err := desc.Unmarshal(in); err != nil {
		// pion refuses media types it does not know (a T.38 re-INVITE's
		// m=image, for one). Without any audio line that is an offer
		// earshot cannot take, not a malformed one: 488, so the peer
		// falls back (e.g. to G.711 fax pass-through).
		if bytes.Contains(in, []byte("\nm=")) && !bytes.Contains(in, []byte("\nm=audio ")) {
			return nil, newError(ErrNoAudio, err.Error())
		}
		return nil, newError(ErrUnparseableSDP, err.Error())
	}
	if len(desc.MediaDescriptions) > maxSDPMedia {
		return nil, newError(ErrSDPTooLarge, "too many m-lines")
	}
	return desc, nil
}

// Bounds on an SDP body. A phone's offer is a few hundred bytes with one
// or two m-lines and a handful of formats; these leave room for any real
// one and keep a hostile one from costing memory and time.
const (
	maxSDPBytes   = 16 << 10
	maxSDPLine    = 1024
	maxSDPMedia   = 16
	maxSDPFormats = 64
)

// checkSDPSize refuses a body or a line past the bounds (ErrSDPTooLarge,
// SIP 488) before it is parsed.
func checkSDPSize(in []byte) error {
	if len(in) > maxSDPBytes {
		return newError(ErrSDPTooLarge, "body over 16 KiB")
	}
	for rest := in; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) > maxSDPLine {
			return newError(ErrSDPTooLarge, "line over 1 KiB")
		}
	}
	return nil
}

// cleanFormats returns the payload types of an m-line earshot can relay
// as they are: numbers 0–127, each once, and not described by two rtpmap
// lines that disagree. What is dropped never reaches the other leg.
func cleanFormats(md *sdp.MediaDescription) ([]string, error) {
	if len(md.MediaName.Formats) > maxSDPFormats {
		return nil, newError(ErrSDPTooLarge, "too many formats")
	}
	maps := map[string]string{}
	conflict := map[string]bool{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, rest, _ := strings.Cut(a.Value, " ")
		rest = strings.ToLower(strings.TrimSpace(rest))
		if prev, ok := maps[pt]; ok && prev != rest {
			conflict[pt] = true
		}
		maps[pt] = rest
	}
	var out []string
	for _, f := range md.MediaName.Formats {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 127 || slices.Contains(out, f) || conflict[f] {
			continue
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, newError(ErrNoCommonCodec, "no valid payload type")
	}
	return out, nil
}

// plainRTP reports whether an m-line profile is unencrypted RTP, the only
// kind earshot relays (RTP/AVPF is RTP/AVP plus feedback RTCP, relayed as is).
func plainRTP(protos []string) bool {
	return slices.Equal(protos, []string{"RTP", "AVP"}) || slices.Equal(protos, []string{"RTP", "AVPF"})
}

// buildSDP writes earshot's SDP from a received one: earshot's c= and port
// on the anchored m-line (index, -1 for none) carrying formats, every other
// m-line rejected with port 0. haveAddr false means the received stream had
// no usable address (c=0.0.0.0 hold), which buildSDP turns into an explicit
// direction so the hold survives earshot's own address.
func buildSDP(in *sdp.SessionDescription, index int, formats []string, haveAddr bool, p sdpParams) *sdp.SessionDescription {
	addrType := "IP4"
	if p.addr.Is6() {
		addrType = "IP6"
	}
	out := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "earshot",
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: p.addr.String(),
		},
		SessionName: "earshot",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: p.addr.String()},
		},
		Bandwidth:        slices.Clone(in.Bandwidth),
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
	sessionDir := direction(in.Attributes)
	for i, md := range in.MediaDescriptions {
		if i != index {
			out.MediaDescriptions = append(out.MediaDescriptions, rejectedMedia(md))
			continue
		}
		dir, explicit := direction(md.Attributes), true
		if dir == "" {
			dir, explicit = sessionDir, sessionDir != ""
		}
		if !haveAddr {
			dir, explicit = holdDirection(dir), true
		}
		// A stream earshot terminates (WebRTC) leaves as plain RTP;
		// decorateWebRTC below makes it WebRTC's for a browser.
		protos := md.MediaName.Protos
		if !plainRTP(protos) {
			protos = []string{"RTP", "AVP"}
		}
		avpf := slices.Equal(protos, []string{"RTP", "AVPF"})
		omd := &sdp.MediaDescription{
			MediaName: sdp.MediaName{
				Media:   "audio",
				Port:    sdp.RangedPort{Value: p.port},
				Protos:  slices.Clone(protos),
				Formats: slices.Clone(formats),
			},
			Bandwidth:  slices.Clone(md.Bandwidth),
			Attributes: keptAttributes(md.Attributes, formats, avpf),
		}
		if explicit {
			omd.Attributes = append(omd.Attributes, sdp.NewPropertyAttribute(dir))
		}
		out.MediaDescriptions = append(out.MediaDescriptions, omd)
	}
	if p.wrtc != nil {
		decorateWebRTC(out, index, p)
	}
	return out
}

// rejectedMedia is an m-line with port 0 and nothing else (RFC 3264 §6:
// a rejected stream keeps its place, media type and formats).
func rejectedMedia(md *sdp.MediaDescription) *sdp.MediaDescription {
	formats := slices.Clone(md.MediaName.Formats)
	if len(formats) == 0 {
		formats = []string{"0"}
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:   md.MediaName.Media,
		Port:    sdp.RangedPort{Value: 0},
		Protos:  slices.Clone(md.MediaName.Protos),
		Formats: formats,
	}}
}
