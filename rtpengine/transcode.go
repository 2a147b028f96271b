package rtpengine

import (
	"slices"
	"strconv"

	"github.com/earshot/earshot/mixer"
	"github.com/pion/sdp/v3"
)

// Transcoding between the two G.711 laws. A carrier may offer only PCMA
// and a phone take only PCMU: earshot adds the other law to the offer it
// forwards (addOtherLaw), and when the answerer picks the law the offerer
// did not offer, the answer earshot forwards names the offerer's own law
// instead (answerInLaw). The two legs then carry different codecs, which
// puts the session on the mix path (wantMix): the mixer decodes each leg
// in its law and encodes each leg's output in its own.

// lawOf is the G.711 law of static payload type pt, if it is one.
func lawOf(pt string) mixer.Codec {
	switch pt {
	case "0":
		return mixer.CodecPCMU
	case "8":
		return mixer.CodecPCMA
	}
	return mixer.CodecInvalid
}

// addOtherLaw appends to md (an offer with formats) the static G.711 law
// the offer lacks, when it offers exactly one of the two, with its rtpmap;
// it returns the formats. An offer without G.711 (nothing to transcode
// from) or with both is left alone.
func addOtherLaw(md *sdp.MediaDescription, formats []string) []string {
	m := pickMedia(md, formats, false)
	if !m.codec.Valid() {
		return formats
	}
	other, name := "8", "PCMA/8000"
	if m.codec == mixer.CodecPCMA {
		other, name = "0", "PCMU/8000"
	}
	for _, f := range formats {
		if lawOf(f) == mixer.CodecInvalid {
			if pickMedia(md, []string{f}, false).codec.Valid() && pickMedia(md, []string{f}, false).codec != m.codec {
				return formats // the other law under a dynamic number
			}
			continue
		}
		if f == other {
			return formats
		}
	}
	if slices.Contains(formats, other) {
		return formats
	}
	// The added law goes after the offerer's own, before telephone-event,
	// so an answerer that can do both keeps the offerer's law (no
	// transcoding).
	out := slices.Clone(formats)
	at := slices.Index(out, strconv.Itoa(m.audioPT)) + 1
	out = slices.Insert(out, at, other)
	md.MediaName.Formats = out
	md.Attributes = append(md.Attributes, sdp.Attribute{Key: "rtpmap", Value: other + " " + name})
	return out
}

// answerInLaw rewrites the audio m-line of an answer (index) to name m,
// the offerer's own media, instead of what the answerer chose: its audio
// and telephone-event payload types with their rtpmap and fmtp lines.
func answerInLaw(desc *sdp.SessionDescription, index int, m legMedia) {
	md := desc.MediaDescriptions[index]
	formats := []string{strconv.Itoa(m.audioPT)}
	if m.dtmfPT >= 0 {
		formats = append(formats, strconv.Itoa(m.dtmfPT))
	}
	md.MediaName.Formats = formats
	md.Attributes = slices.DeleteFunc(md.Attributes, func(a sdp.Attribute) bool {
		return a.Key == "rtpmap" || a.Key == "fmtp"
	})
	name := "PCMU/8000"
	if m.codec == mixer.CodecPCMA {
		name = "PCMA/8000"
	}
	attrs := []sdp.Attribute{{Key: "rtpmap", Value: formats[0] + " " + name}}
	if m.dtmfPT >= 0 {
		attrs = append(attrs, sdp.Attribute{Key: "rtpmap", Value: formats[1] + " telephone-event/8000"},
			sdp.Attribute{Key: "fmtp", Value: formats[1] + " 0-16"})
	}
	md.Attributes = append(attrs, md.Attributes...)
}
