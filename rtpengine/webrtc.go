package rtpengine

import (
	"net/netip"

	"github.com/earshot/earshot/rtpengine/webrtc"
)

// A call leg whose peer offered WebRTC (UDP/TLS/RTP/SAVPF with ICE and
// DTLS-SRTP attributes: a browser) is terminated by earshot: the leg gets
// a webrtc.Transport, and the SDP earshot answers on it is WebRTC's
// (ICE-lite with a host candidate on the leg's RTP port, earshot's
// certificate fingerprint, a=setup:passive, a=rtcp-mux), while the other
// leg sees plain RTP/AVP. On the wire:
//
//   - every datagram on the leg's RTP socket is classified by its first
//     byte (RFC 7983): STUN binding requests are answered by the
//     transport, which selects the peer's address — the leg's RTP and RTCP
//     destinations, latched at once — on the first authenticated check or
//     a nomination; DTLS records from that address go to the handshake;
//     SRTP and SRTCP from that address are decrypted in place and then
//     take the plain packet path (relay, mixer) like any other leg's;
//   - everything earshot sends on the leg (relayed RTP and RTCP, mixer
//     frames, telephone-events) is encrypted by the transport and sent
//     from the RTP socket (rtcp-mux); before DTLS completes it is dropped
//     and counted as a write error;
//   - the leg's RTCP socket is not used: whatever arrives there is
//     dropped (Drops.Source).
//
// Latching does not apply to a WebRTC leg: ICE with the credentials of
// the SDP decides the peer, and the transport's selection is the latch.
// A re-offer repeating the peer's credentials, fingerprint and role keeps
// the transport; one that changes them (an ICE restart) replaces it. When
// only the DTLS role changes (the peer answers passive to earshot's
// actpass re-offer), the new transport keeps ICE's selection and starts
// its handshake at once, as client.

// sendRTP writes an RTP packet to to from l: encrypted on a WebRTC leg,
// as it is on any other.
func (l *leg) sendRTP(pkt []byte, to netip.AddrPort) error {
	if t := l.wrtc.Load(); t != nil {
		return t.WriteRTP(pkt, to)
	}
	_, err := l.rtp.conn.WriteToUDPAddrPort(pkt, to)
	return err
}

// sendRTCP writes an RTCP packet to to from l: SRTCP from the RTP socket
// on a WebRTC leg, plain from the RTCP socket on any other.
func (l *leg) sendRTCP(pkt []byte, to netip.AddrPort) error {
	if t := l.wrtc.Load(); t != nil {
		return t.WriteRTCP(pkt, to)
	}
	_, err := l.rtcp.conn.WriteToUDPAddrPort(pkt, to)
	return err
}

// onRTPSocket is the packet path of a leg's RTP socket.
// b is the receive loop's batch (see relayRTP), or nil.
func (s *Session) onRTPSocket(l *leg, pkt []byte, src netip.AddrPort, b *sendBatch) {
	if t := l.wrtc.Load(); t != nil {
		s.onWebRTC(l, t, pkt, src)
		return
	}
	s.onRTP(l, pkt, src, b)
}

// onRTCPSocket is the packet path of a leg's RTCP socket, unused on a
// WebRTC leg (rtcp-mux).
func (s *Session) onRTCPSocket(l *leg, pkt []byte, src netip.AddrPort) {
	if l.wrtc.Load() != nil {
		s.counters.dropSource.Add(1)
		return
	}
	s.onRTCP(l, pkt, src)
}

// onWebRTC demultiplexes a datagram received on a WebRTC leg (see the
// top of this file). It does not allocate for SRTP and SRTCP.
func (s *Session) onWebRTC(l *leg, t *webrtc.Transport, pkt []byte, src netip.AddrPort) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	kind := webrtc.Classify(pkt)
	if kind == webrtc.KindSTUN {
		// A selection calls selectPeer; any valid check refreshes
		// consent (webrtcfail.go).
		if t.HandleSTUN(pkt, src) != webrtc.STUNDropped {
			l.wcheck.Store(s.eng.nanotime())
		}
		return
	}
	if kind == webrtc.KindOther || len(pkt) >= readBufSize {
		s.counters.dropMalformed.Add(1)
		return
	}
	if d := l.rtp.dest.Load(); d == nil || !d.latched || d.addr != src {
		s.counters.dropSource.Add(1)
		return
	}
	var err error
	switch kind {
	case webrtc.KindDTLS:
		t.HandleDTLS(pkt)
	case webrtc.KindRTP:
		if pkt, err = t.UnprotectRTP(pkt); err != nil || !validRTP(pkt) {
			s.counters.dropMalformed.Add(1)
			return
		}
		s.relayRTP(l, pkt, l.media.Load(), s.eng.nanotime(), nil)
	case webrtc.KindRTCP:
		if pkt, err = t.UnprotectRTCP(pkt); err != nil || !rewriteRTCP(pkt, nil) {
			s.counters.dropMalformed.Add(1)
			return
		}
		s.relayRTCP(l, pkt)
	}
}

// selectPeer makes src, which ICE selected, the destination of l's RTP and
// RTCP and the only source accepted — unless the transport was replaced
// meanwhile. It runs on the receive loop, once per selection.
func (s *Session) selectPeer(l *leg, t *webrtc.Transport, src netip.AddrPort) {
	if l.wrtc.Load() != t {
		return
	}
	l.rtp.dest.Store(&peer{addr: src, latched: true, want: src})
	l.rtcp.dest.Store(&peer{addr: src, latched: true, want: src})
	s.logLatch("ice", l, src)
}

// setWebRTC installs what l's peer said about its WebRTC transport (nil:
// it is not WebRTC) and returns what earshot's SDP on l must say. A
// transport matching the peer's credentials, fingerprint and role is
// kept, with its selected peer; otherwise a new one replaces it and the
// leg waits for ICE again. Caller holds s.mu.
func (s *Session) setWebRTC(l *leg, w *remoteWebRTC) (*localWebRTC, error) {
	old := l.wrtc.Load()
	if w == nil {
		if old != nil {
			l.wrtc.Store(nil)
			old.Close()
		}
		l.wside = nil
		return nil, nil
	}
	setup := dtlsRole(w.setup)
	client := setup == "active"
	if !l.ice.Valid() {
		l.ice = newICE()
	}
	if old == nil || !old.Matches(w.creds, w.fingerprint, client) {
		// Only the DTLS role changed (the peer answered passive to
		// earshot's actpass): ICE stands, DTLS starts over at once.
		var keep netip.AddrPort
		if old != nil && old.Matches(w.creds, w.fingerprint, !client) {
			keep = old.Peer()
		}
		var t *webrtc.Transport // set before the transport is published
		t, err := webrtc.New(webrtc.Config{
			Certificate:       s.eng.cert,
			Local:             l.ice.creds,
			Remote:            w.creds,
			RemoteFingerprint: w.fingerprint,
			Client:            client,
			Send:              l.sendRaw,
			Peer:              keep,
			OnState: func(st webrtc.State) {
				s.eng.countHandshake(st)
				if st == webrtc.StateFailed {
					s.transportFailed(l, t, ReasonDTLSFailed)
				}
			},
			OnPeerClose: func() { s.transportFailed(l, t, ReasonClosed) },
			OnSelect:    func(src netip.AddrPort) { s.selectPeer(l, t, src) },
			MaxPacket:   readBufSize,
			Logger:      s.log.With("leg", l.id),
		})
		if err != nil {
			return nil, newError(ErrBadWebRTC, err.Error())
		}
		l.wsince.Store(s.eng.nanotime())
		l.wcheck.Store(0)
		if keep.IsValid() {
			l.wcheck.Store(s.eng.nanotime()) // ICE stands
		}
		l.wfail.Store(false)
		l.wrtc.Store(t)
		if keep.IsValid() {
			l.rtp.dest.Store(&peer{addr: keep, latched: true, want: keep})
			l.rtcp.dest.Store(&peer{addr: keep, latched: true, want: keep})
		} else {
			l.rtp.dest.Store(&peer{})
			l.rtcp.dest.Store(&peer{})
		}
		if old != nil {
			old.Close()
		}
		t.Start()
	}
	l.wside = &localWebRTC{
		creds:       l.ice.creds,
		fingerprint: s.eng.cert.Fingerprint(),
		setup:       setup,
		protos:      w.protos,
		mids:        w.mids,
		bundle:      w.bundle,
		ssrc:        l.out.ssrc,
	}
	return l.wside, nil
}

// countHandshake counts how a WebRTC leg's DTLS handshake ended
// (Stats.WebRTC). Called from the transport's goroutine.
func (e *Engine) countHandshake(st webrtc.State) {
	switch st {
	case webrtc.StateConnected:
		e.webrtcUp.Add(1)
	case webrtc.StateFailed:
		e.webrtcFailed.Add(1)
	}
}

// sendRaw writes a datagram from l's RTP socket: the transport's STUN
// answers, DTLS flights, SRTP and SRTCP.
func (l *leg) sendRaw(b []byte, to netip.AddrPort) error {
	_, err := l.rtp.conn.WriteToUDPAddrPort(b, to)
	return err
}

// iceState is earshot's ICE identity on a leg: credentials made when the
// leg's peer first offers WebRTC and kept for the leg's life, so that a
// re-offer is answered with the same ones (no ICE restart).
type iceState struct {
	creds webrtc.Credentials
}

func newICE() iceState { return iceState{creds: webrtc.NewCredentials()} }

// Valid reports whether credentials were made.
func (i iceState) Valid() bool { return i.creds.Ufrag != "" }

// closeWebRTC ends l's transport, if any. Called once l's sockets are
// closed.
func (l *leg) closeWebRTC() {
	if t := l.wrtc.Swap(nil); t != nil {
		t.Close()
	}
}
