package rtpengine

import (
	"slices"
	"strconv"

	"github.com/pion/sdp/v3"
)

// A late offer (RFC 3261 §13.2.1) is an INVITE without SDP: the caller
// waits for an offer in the 2xx and answers in the ACK. earshot anchors
// such a call with two exchanges instead of one forwarded exchange:
//
//  1. LocalOffer: earshot offers G.711 and telephone-event to the callee;
//  2. Answer(callee): the callee's answer settles the codec and returns an
//     offer for the caller narrowed to it (so both legs carry one codec
//     with the same payload type numbers, as on a forwarded call);
//  3. Answer(caller): the caller's answer from the ACK completes the call
//     and returns nil, since nothing is left to send.

// LocalOffer returns earshot's own SDP offer for leg to — PCMU, PCMA and
// telephone-event on that leg's port — for a call whose other leg sent no
// offer. Answers then follow the late-offer sequence above.
func (s *Session) LocalOffer(to int) ([]byte, error) {
	if err := checkLeg(to); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrClosed, "")
	}
	pair := s.pair.Load()
	desc, plan := legOffer(sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(pair[to].port)})
	pair[to].plan = &plan
	s.late, s.lateLeg = true, to
	return pair[to].origin.stamp(desc), nil
}

// lateAnswer finishes Answer during a late-offer exchange. desc is the
// answer from leg from rewritten for the other leg, remote what it settled,
// index its audio m-line. Caller holds s.mu.
func (s *Session) lateAnswer(from int, desc *sdp.SessionDescription, remote remoteMedia, index int) ([]byte, error) {
	pair := s.pair.Load()
	to := 1 - from
	if from != s.lateLeg {
		// The caller's answer to the derived offer: the exchange is done.
		s.late = false
		s.armedAt.CompareAndSwap(0, max(s.eng.nanotime(), 1))
		return nil, nil
	}
	if !remote.media.codec.Valid() {
		return nil, newError(ErrNoCommonCodec, "the answer to earshot's offer kept no G.711 format")
	}
	formats := []string{strconv.Itoa(remote.media.audioPT)}
	if remote.media.dtmfPT >= 0 {
		formats = append(formats, strconv.Itoa(remote.media.dtmfPT))
	}
	narrowFormats(desc.MediaDescriptions[index], formats)
	pair[to].plan = &offerPlan{count: len(desc.MediaDescriptions), index: index, formats: formats}
	return pair[to].origin.stamp(desc), nil
}

// narrowFormats keeps only formats on md, with their rtpmap and fmtp lines.
func narrowFormats(md *sdp.MediaDescription, formats []string) {
	md.MediaName.Formats = slices.Clone(formats)
	md.Attributes = slices.DeleteFunc(md.Attributes, func(a sdp.Attribute) bool {
		return (a.Key == "rtpmap" || a.Key == "fmtp") && !slices.Contains(formats, firstField(a.Value))
	})
}

// Reoffer returns the SDP earshot last sent on leg to, unchanged (same o=
// version), as an offer again: the answer to a re-INVITE without SDP
// (RFC 3261 §14.2), which a peer sends to refresh a session or to learn
// the current one. The peer answers in its ACK; given to Answer(to, …) it
// updates the leg and returns nil, as nothing goes to the other leg.
func (s *Session) Reoffer(to int) ([]byte, error) { return s.reoffer(to, false) }

// Resume is Reoffer with the stream made sendrecv, under a new o= version:
// earshot's own re-INVITE to a party it had relayed a hold to, once the
// party that held it is gone (an attended transfer completed while the
// customer was on hold). The answer is taken as Reoffer's.
func (s *Session) Resume(to int) ([]byte, error) { return s.reoffer(to, true) }

func (s *Session) reoffer(to int, resume bool) ([]byte, error) {
	if err := checkLeg(to); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrClosed, "")
	}
	l := s.pair.Load()[to]
	if l.origin.last == nil {
		return nil, newError(ErrNoOffer, "nothing sent on the leg yet")
	}
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(l.origin.last); err != nil {
		return nil, newError(ErrUnparseableSDP, err.Error())
	}
	index := -1
	for i, md := range desc.MediaDescriptions {
		if md.MediaName.Port.Value != 0 {
			index = i
			break
		}
	}
	if index < 0 {
		return nil, newError(ErrNoAudio, "the last SDP sent on the leg has no stream")
	}
	l.plan = &offerPlan{count: len(desc.MediaDescriptions), index: index,
		formats: slices.Clone(desc.MediaDescriptions[index].MediaName.Formats),
		webrtc:  isWebRTC(desc.MediaDescriptions[index].MediaName.Protos)}
	s.late, s.lateLeg = true, 1-to
	if !resume {
		return slices.Clone(l.origin.last), nil
	}
	setSendRecv(&desc, index)
	return l.origin.stamp(&desc), nil
}

// setSendRecv drops every direction attribute of the session and of
// m-line index and marks that stream sendrecv.
func setSendRecv(desc *sdp.SessionDescription, index int) {
	isDir := func(a sdp.Attribute) bool {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return true
		}
		return false
	}
	desc.Attributes = slices.DeleteFunc(desc.Attributes, isDir)
	md := desc.MediaDescriptions[index]
	md.Attributes = append(slices.DeleteFunc(md.Attributes, isDir), sdp.Attribute{Key: "sendrecv"})
}
