package rtpengine

import (
	"slices"
	"strconv"

	"github.com/pion/sdp/v3"
)

// earshot offers WebRTC to a browser it calls (an agent whose page takes
// calls, a supervisor listening from the workspace). The offer on a leg
// is made once, in its plain form (Offer, LocalOffer, AnswerLocal); its
// WebRTC form is the same offer decorated for a browser: the same o=
// line, formats and port, plus ICE-lite credentials, earshot's
// fingerprint, a=setup:actpass, a=rtcp-mux, a mid on every m-line and a
// BUNDLE group of the anchored one. The two may go out at once (a call
// ringing a SIP phone and a browser), so the answer may come back in
// either form, and the leg becomes what the answer says.

// WebRTCOffer returns the last offer made for leg to, by Offer, LocalOffer
// or AnswerLocal, in its WebRTC form (see above). ErrNoOffer if none was
// made.
func (s *Session) WebRTCOffer(to int) ([]byte, error) {
	if err := checkLeg(to); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newError(ErrClosed, "")
	}
	return s.webrtcOffer(s.pair.Load()[to])
}

// WebRTCOffer is Offer for a supervisor in a browser: the same offer in
// its WebRTC form. The answer goes to TakeAnswer.
func (g *Leg) WebRTCOffer() ([]byte, error) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := g.check(); err != nil {
		return nil, err
	}
	desc, plan := legOffer(sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(g.l.port)})
	g.l.plan = &plan
	g.l.origin.stamp(desc)
	return s.webrtcOffer(g.l)
}

// webrtcOffer decorates the offer last stamped on l and lets l's plan take
// an answer in either form. Caller holds s.mu.
func (s *Session) webrtcOffer(l *leg) ([]byte, error) {
	if l.plan == nil || l.origin.last == nil {
		return nil, newError(ErrNoOffer, "no offer made on the leg")
	}
	if l.plan.webrtc {
		// The leg is a browser's already: its offers are WebRTC's.
		return slices.Clone(l.origin.last), nil
	}
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(l.origin.last); err != nil {
		return nil, newError(ErrUnparseableSDP, err.Error())
	}
	if !l.ice.Valid() {
		l.ice = newICE()
	}
	mids := make([]string, len(desc.MediaDescriptions))
	for i := range mids {
		mids[i] = strconv.Itoa(i)
	}
	decorateWebRTC(&desc, l.plan.index, sdpParams{
		addr: s.eng.cfg.AdvertisedAddr, port: int(l.port), offer: true,
		wrtc: &localWebRTC{
			creds:       l.ice.creds,
			fingerprint: s.eng.cert.Fingerprint(),
			protos:      webrtcProtos[0],
			mids:        mids,
			bundle:      true,
			ssrc:        l.out.ssrc,
		},
	})
	b, err := desc.Marshal()
	if err != nil {
		return nil, newError(ErrUnparseableSDP, err.Error())
	}
	plan := *l.plan
	plan.either, plan.webrtcOffer = true, b
	l.plan = &plan
	return slices.Clone(b), nil
}

// answered records which form of l's offer the answer took: after a
// WebRTC answer the WebRTC form is what earshot last sent on l (a
// re-INVITE without SDP is answered with it). Caller holds s.mu.
func (l *leg) answered(plan *offerPlan, remote remoteMedia) {
	if plan.either && remote.webrtc != nil {
		l.origin.last = plan.webrtcOffer
	}
}
