package b2bua

import "strconv"

// Browsers reach earshot over SIP over WebSocket (websocket.go) and take
// media over WebRTC: an offer earshot sends to a leg whose transport is
// WS or WSS is the WebRTC form of the offer it would send a SIP phone.
// When a browser's transport fails for good (DTLS or ICE failed, consent
// expired, the page was closed without a BYE) the media layer says so and
// the call ends that leg: a supervisor's leg is detached and the call goes
// on; a party's leg ends the call, as its BYE would.

// legOffer is a media leg's offer for a phone reached over transport.
func legOffer(ml MediaLeg, transport string) ([]byte, error) {
	if isWebSocket(transport) {
		return ml.WebRTCOffer()
	}
	return ml.Offer()
}

// transportFailed ends what a failed WebRTC transport carried. Runs on the
// call's loop.
func (c *Call) transportFailed(leg int, reason string) {
	if c.ended {
		return
	}
	for _, sup := range c.sups {
		if sup.media == nil || sup.media.ID() != leg {
			continue
		}
		c.log.Info("supervisor's browser lost its media", "supervisor", sup.user.Extension, "reason", reason)
		if sup.promoted {
			c.hangup(EndMediaFailed) // the call was the supervisor's own
		} else {
			c.detach(sup, SupEndMediaFailed)
		}
		return
	}
	switch leg {
	case LegCaller, LegCallee:
		c.log.Info("a browser's media failed: call ends", "leg", strconv.Itoa(leg), "reason", reason)
		c.hangup(EndMediaFailed)
	}
}
