package webrtc

import "net/netip"

// UnprotectRTP authenticates and decrypts an SRTP packet in place and
// returns the RTP packet (a prefix of pkt). ErrNotReady before the DTLS
// handshake completed; any other error means the packet is not authentic,
// a replay, or malformed, and must be dropped. Only the leg's receive loop
// calls it. It does not allocate.
func (t *Transport) UnprotectRTP(pkt []byte) ([]byte, error) {
	if !t.ready.Load() {
		return nil, ErrNotReady
	}
	t.in.mu.Lock()
	defer t.in.mu.Unlock()
	return t.in.ctx.DecryptRTP(pkt[:0], pkt, &t.in.rtp)
}

// UnprotectRTCP is UnprotectRTP for SRTCP.
func (t *Transport) UnprotectRTCP(pkt []byte) ([]byte, error) {
	if !t.ready.Load() {
		return nil, ErrNotReady
	}
	t.in.mu.Lock()
	defer t.in.mu.Unlock()
	return t.in.ctx.DecryptRTCP(pkt[:0], pkt, &t.in.rtcp)
}

// WriteRTP encrypts the RTP packet pkt (left untouched) and sends it to
// addr. ErrNotReady before the DTLS handshake completed. Safe for
// concurrent use; it does not allocate.
func (t *Transport) WriteRTP(pkt []byte, addr netip.AddrPort) error { return t.write(pkt, addr, false) }

// WriteRTCP is WriteRTP for RTCP: it sends SRTCP.
func (t *Transport) WriteRTCP(pkt []byte, addr netip.AddrPort) error { return t.write(pkt, addr, true) }

func (t *Transport) write(pkt []byte, addr netip.AddrPort, rtcp bool) error {
	if !t.ready.Load() {
		return ErrNotReady
	}
	if len(pkt) > t.cfg.MaxPacket {
		return errTooLarge
	}
	t.out.mu.Lock()
	defer t.out.mu.Unlock()
	var b []byte
	var err error
	if rtcp {
		b, err = t.out.ctx.EncryptRTCP(t.out.buf[:0], pkt, &t.out.rtcp)
	} else {
		b, err = t.out.ctx.EncryptRTP(t.out.buf[:0], pkt, &t.out.rtp)
	}
	if err != nil {
		return err
	}
	return t.cfg.Send(b, addr)
}
