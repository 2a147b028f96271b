package rtpengine

import (
	"slices"
	"strconv"
	"strings"

	"github.com/earshot/earshot/mixer"
	"github.com/pion/sdp/v3"
)

// The formats earshot offers a supervisor's phone (click-to-monitor): both
// G.711 variants by their static numbers and telephone-event at the number
// most phones use.
const (
	offerDTMFPT   = 101
	offerDTMFFmtp = "0-16"
)

// pickMedia reads the codecs of an anchored m-line restricted to formats:
// the G.711 variant (static number, or a dynamic one whose rtpmap names it
// at 8000 Hz) and telephone-event/8000. With preferPCMU the µ-law format
// wins wherever it is listed, otherwise the first G.711 format in the
// list's order (an answer's order is the answerer's preference).
func pickMedia(md *sdp.MediaDescription, formats []string, preferPCMU bool) legMedia {
	names := make(map[string]string) // payload type → "name/rate", lower case
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" {
			pt, rest, _ := strings.Cut(a.Value, " ")
			names[pt] = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(rest)), "/1")
		}
	}
	m := noMedia
	for _, f := range formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		var c mixer.Codec
		switch name := names[f]; {
		case name == "pcmu/8000" || (name == "" && pt == 0):
			c = mixer.CodecPCMU
		case name == "pcma/8000" || (name == "" && pt == 8):
			c = mixer.CodecPCMA
		case name == "telephone-event/8000":
			if m.dtmfPT < 0 {
				m.dtmfPT = pt
			}
			continue
		default:
			continue
		}
		if !m.codec.Valid() || (preferPCMU && c == mixer.CodecPCMU && m.codec != mixer.CodecPCMU) {
			m.codec, m.audioPT = c, pt
		}
	}
	return m
}

// answerLeg answers an offer from a supervisor's phone: earshot's address
// and port p on the first audio m-line with one G.711 format (PCMU
// preferred) and telephone-event if offered, under the peer's payload
// type numbers; every other m-line rejected. The o= line is left to the
// caller. A WebRTC stream is answered in kind: setup installs the peer's
// transport and returns what earshot's answer says of its own.
func answerLeg(offer []byte, p sdpParams, setup webrtcSetup) (*sdp.SessionDescription, remoteMedia, error) {
	return answerWith(offer, p, true, setup)
}

// webrtcSetup installs a WebRTC peer's transport on the leg being
// answered (Session.setWebRTC).
type webrtcSetup func(*remoteWebRTC) (*localWebRTC, error)

// answerWith is answerLeg choosing the G.711 format by preferPCMU (see
// pickMedia): a caller's offer is answered in the caller's own order.
func answerWith(offer []byte, p sdpParams, preferPCMU bool, setup webrtcSetup) (*sdp.SessionDescription, remoteMedia, error) {
	desc, err := parseSDP(offer)
	if err != nil {
		return nil, remoteMedia{}, err
	}
	index, err := audioLine(desc, true)
	if err != nil {
		return nil, remoteMedia{}, err
	}
	md := desc.MediaDescriptions[index]
	m := pickMedia(md, md.MediaName.Formats, preferPCMU)
	if !m.codec.Valid() {
		return nil, remoteMedia{}, newError(ErrNoCommonCodec, "neither PCMU nor PCMA offered")
	}
	var remote remoteMedia
	if isWebRTC(md.MediaName.Protos) {
		w, err := readWebRTC(desc, md)
		if err != nil {
			return nil, remoteMedia{}, err
		}
		remote = remoteMedia{rtpmaps: readRates(md), webrtc: &w}
		if p.wrtc, err = setup(&w); err != nil {
			return nil, remoteMedia{}, err
		}
	} else if remote, err = readRemote(desc, md, p.addr); err != nil {
		return nil, remoteMedia{}, err
	}
	remote.formats = []string{strconv.Itoa(m.audioPT)}
	if m.dtmfPT >= 0 {
		remote.formats = append(remote.formats, strconv.Itoa(m.dtmfPT))
	}
	remote.media = m
	// buildSDP keeps the offer's rtpmap and fmtp lines of the chosen
	// formats, its ptime and its direction mirrored below.
	reachable := remote.rtp.IsValid() || remote.webrtc != nil
	out := buildSDP(desc, index, remote.formats, reachable, p)
	omd := out.MediaDescriptions[index]
	omd.Attributes = slices.DeleteFunc(omd.Attributes, func(a sdp.Attribute) bool {
		return direction([]sdp.Attribute{a}) != ""
	})
	dir := direction(md.Attributes)
	if dir == "" {
		dir = direction(desc.Attributes)
	}
	if !reachable {
		dir = holdDirection(dir)
	}
	omd.Attributes = append(omd.Attributes, sdp.NewPropertyAttribute(answerDirection(dir)))
	return out, remote, nil
}

// answerDirection is the direction answering an offered one (RFC 3264 §6.1).
func answerDirection(offered string) string {
	switch offered {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	default:
		return "sendrecv"
	}
}

// legOffer is earshot's offer to a supervisor's phone and its plan.
func legOffer(p sdpParams) (*sdp.SessionDescription, offerPlan) {
	dtmf := strconv.Itoa(offerDTMFPT)
	formats := []string{"0", "8", dtmf}
	in := &sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{{
		MediaName: sdp.MediaName{Media: "audio", Protos: []string{"RTP", "AVP"}, Formats: formats},
		Attributes: []sdp.Attribute{
			{Key: "rtpmap", Value: "0 PCMU/8000"},
			{Key: "rtpmap", Value: "8 PCMA/8000"},
			{Key: "rtpmap", Value: dtmf + " telephone-event/8000"},
			{Key: "fmtp", Value: dtmf + " " + offerDTMFFmtp},
			{Key: "ptime", Value: "20"},
			{Key: "sendrecv"},
		},
	}}}
	out := buildSDP(in, 0, formats, true, p)
	return out, offerPlan{count: 1, index: 0, formats: formats}
}
