package rtpengine

import "github.com/earshot/earshot/rtpengine/webrtc"

// A WebRTC leg's transport can fail after the SDP exchange succeeded, and
// nothing in the signalling says so: the browser never reaches earshot's
// candidate, the DTLS handshake fails, the page closes its
// RTCPeerConnection without a BYE, or the browser stops refreshing
// consent. The session reports each, once per transport, to the callback
// OnTransportFailed installs, so the call can end that leg instead of
// waiting for the media timeout of the whole call.

// Reasons a WebRTC transport failed (OnTransportFailed).
const (
	ReasonDTLSFailed     = "dtls-failed"     // the handshake failed: wrong fingerprint, no common profile, timeout
	ReasonICEFailed      = "ice-failed"      // no valid ICE check within Config.WebRTCICETimeout
	ReasonClosed         = "closed"          // the peer ended DTLS (close_notify)
	ReasonConsentExpired = "consent-expired" // no valid ICE check within Config.WebRTCConsentTimeout
)

// OnTransportFailed sets fn to be told when a WebRTC leg's transport
// fails for good: leg is 0, 1 or a Leg's ID, reason one of the Reason
// constants. fn is called from a media goroutine (the engine's watcher or
// the transport's handshake goroutine), at most once per transport, and
// must not block. Nil stops the reports.
func (s *Session) OnTransportFailed(fn func(leg int, reason string)) {
	if fn == nil {
		s.onFailed.Store(nil)
		return
	}
	s.onFailed.Store(&fn)
}

// transportFailed reports that t, l's transport, failed for reason —
// unless t was replaced or closed meanwhile, or its failure was reported
// already.
func (s *Session) transportFailed(l *leg, t *webrtc.Transport, reason string) {
	if s.closing.Load() || l.wrtc.Load() != t || !l.wfail.CompareAndSwap(false, true) {
		return
	}
	switch reason {
	case ReasonICEFailed:
		s.eng.webrtcICEFailed.Add(1)
	case ReasonClosed:
		s.eng.webrtcClosed.Add(1)
	case ReasonConsentExpired:
		s.eng.webrtcConsent.Add(1)
	}
	s.log.Info("webrtc transport failed", "leg", l.id, "reason", reason)
	if fn := s.onFailed.Load(); fn != nil {
		(*fn)(l.id, reason)
	}
}

// checkTransports reports the WebRTC legs of s whose ICE never came up or
// whose consent expired at now. Called by the engine's watcher.
func (s *Session) checkTransports(now int64) {
	cfg := &s.eng.cfg
	for _, l := range *s.all.Load() {
		t := l.wrtc.Load()
		if t == nil || l.wfail.Load() {
			continue
		}
		switch last := l.wcheck.Load(); {
		case t.State() == webrtc.StateClosed:
		case last == 0 && now-l.wsince.Load() >= int64(cfg.WebRTCICETimeout):
			s.transportFailed(l, t, ReasonICEFailed)
		case last != 0 && now-last >= int64(cfg.WebRTCConsentTimeout):
			s.transportFailed(l, t, ReasonConsentExpired)
		}
	}
}
