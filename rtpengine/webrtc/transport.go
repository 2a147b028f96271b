package webrtc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
)

// DefaultHandshakeTimeout bounds the DTLS handshake once ICE selected the
// peer: a browser completes it in a few round trips.
const DefaultHandshakeTimeout = 30 * time.Second

// maxSRTPOverhead is what protection adds to a packet at most: an SRTCP
// index (4) and the longest authentication tag (16, AES-GCM).
const maxSRTPOverhead = 4 + 16

// Config describes one WebRTC leg's transport.
type Config struct {
	// Certificate is earshot's DTLS identity. Required.
	Certificate *Certificate
	// Local are the credentials earshot announced in its SDP on the leg,
	// Remote those of the peer's SDP. Both required.
	Local, Remote Credentials
	// RemoteFingerprint is the peer's a=fingerprint. Required.
	RemoteFingerprint Fingerprint
	// Client makes earshot the DTLS client (its SDP said a=setup:active);
	// otherwise it is the server (a=setup:passive).
	Client bool
	// Send writes one datagram to addr from the leg's socket without
	// blocking. Required.
	Send func(b []byte, addr netip.AddrPort) error
	// Peer, if valid, is the address ICE already selected for the same
	// credentials, when only the DTLS role changed in a re-negotiation:
	// Start then begins the handshake without waiting for a check.
	Peer netip.AddrPort
	// OnState, if not nil, is told once how the handshake ended:
	// StateConnected or StateFailed (not when Close cut it short). It is
	// called from the handshake goroutine and must not block.
	OnState func(State)
	// OnPeerClose, if not nil, is called once when the peer ends an
	// established DTLS association (a close_notify or a fatal alert: a
	// browser whose page closed its RTCPeerConnection), not when Close
	// ends it. It is called from the handshake goroutine and must not
	// block.
	OnPeerClose func()
	// OnSelect, if not nil, is called by HandleSTUN with the address ICE
	// selects, before the check's answer is sent.
	OnSelect func(addr netip.AddrPort)
	// MaxPacket is the largest plaintext packet WriteRTP and WriteRTCP
	// take. Zero means 2048.
	MaxPacket int
	// HandshakeTimeout bounds the DTLS handshake. Zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Logger receives the transport's logs (handshake outcome). Nil
	// discards them.
	Logger *slog.Logger
}

// Transport is the ICE-lite, DTLS-SRTP and SRTP state of one WebRTC leg.
// Create it with New; see doc.go for who calls what.
type Transport struct {
	cfg       Config
	username  string // USERNAME a valid check carries
	integrity stun.MessageIntegrity
	conn      *packetConn
	profiles  []dtls.SRTPProtectionProfile // offered, in order of preference

	peer  atomic.Pointer[netip.AddrPort] // selected by ICE; nil before
	state atomic.Int32                   // a State
	ready atomic.Bool                    // both SRTP contexts are set

	in struct {
		mu   sync.Mutex // guards the fields below; taken by the receive loop only
		ctx  *srtp.Context
		rtp  rtp.Header
		rtcp rtcp.Header
	}
	out struct {
		mu   sync.Mutex // guards the fields below, held until the packet is written
		ctx  *srtp.Context
		rtp  rtp.Header
		rtcp rtcp.Header
		buf  []byte
	}

	startOnce sync.Once
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	mu        sync.Mutex // guards dtls and started
	dtls      *dtls.Conn
	started   bool
	done      chan struct{} // closed when the handshake goroutine returns
	closeOnce sync.Once
}

// New checks cfg and makes a transport. Nothing runs until the first
// valid ICE check (HandleSTUN).
func New(cfg Config) (*Transport, error) {
	switch {
	case cfg.Certificate == nil:
		return nil, errors.New("webrtc: Config.Certificate: required")
	case cfg.Send == nil:
		return nil, errors.New("webrtc: Config.Send: required")
	case !cfg.RemoteFingerprint.Valid():
		return nil, fmt.Errorf("%w: none", ErrBadFingerprint)
	}
	if err := cfg.Local.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Remote.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxPacket <= 0 {
		cfg.MaxPacket = 2048
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := &Transport{
		cfg:       cfg,
		username:  cfg.Local.Ufrag + ":" + cfg.Remote.Ufrag,
		integrity: stun.NewShortTermIntegrity(cfg.Local.Pwd),
		done:      make(chan struct{}),
		// AES-GCM first: cheaper per packet, and offered by browsers.
		profiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.out.buf = make([]byte, cfg.MaxPacket+maxSRTPOverhead)
	if cfg.Peer.IsValid() {
		p := cfg.Peer
		t.peer.Store(&p)
	}
	t.conn = newPacketConn(t.sendDTLS, t.peerAddr)
	return t, nil
}

// Start begins the DTLS handshake at once when the peer's address is
// already known (Config.Peer); otherwise the first valid ICE check does.
func (t *Transport) Start() {
	if t.peer.Load() != nil {
		t.startOnce.Do(t.startHandshake)
	}
}

// Matches reports whether the transport was made for these remote
// credentials and fingerprint and the same DTLS role: a re-offer that
// repeats them keeps the transport (RFC 8839 §4.4.1.1: an ICE restart
// changes the credentials).
func (t *Transport) Matches(remote Credentials, fp Fingerprint, client bool) bool {
	return t.cfg.Remote == remote && t.cfg.RemoteFingerprint == fp && t.cfg.Client == client
}

// State is where the transport is.
func (t *Transport) State() State { return State(t.state.Load()) }

// Peer is the address ICE selected; invalid before the first valid check.
func (t *Transport) Peer() netip.AddrPort {
	if p := t.peer.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

func (t *Transport) peerAddr() net.Addr { return net.UDPAddrFromAddrPort(t.Peer()) }

func (t *Transport) sendDTLS(b []byte) error {
	p := t.peer.Load()
	if p == nil {
		return ErrNotReady
	}
	return t.cfg.Send(b, *p)
}

func (t *Transport) isClosed() bool { return t.State() == StateClosed }

// HandleDTLS queues a DTLS record received from the selected peer for the
// handshake goroutine. It copies the record (handshakes are a few records
// per call, not per media packet) and never blocks; it reports false when
// the record was dropped (queue full, or closed).
func (t *Transport) HandleDTLS(pkt []byte) bool { return t.conn.push(pkt) }

// startHandshake runs the DTLS handshake on a goroutine of the transport.
// Called once, by HandleSTUN.
func (t *Transport) startHandshake() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isClosed() {
		return
	}
	t.started = true
	t.state.CompareAndSwap(int32(StateNew), int32(StateConnecting))
	go t.run()
}

func (t *Transport) run() {
	defer close(t.done)
	fp := t.cfg.RemoteFingerprint
	shared := []dtls.Option{
		dtls.WithCertificates(t.cfg.Certificate.tls),
		dtls.WithSRTPProtectionProfiles(t.profiles...),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		// The peer's certificate is self-signed: it is checked against
		// the fingerprint of its SDP, not a CA.
		dtls.WithInsecureSkipVerify(true),
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !fp.matches(raw[0]) {
				return ErrFingerprintMismatch
			}
			return nil
		}),
	}
	var conn *dtls.Conn
	var err error
	if t.cfg.Client {
		opts := make([]dtls.ClientOption, 0, len(shared))
		for _, o := range shared {
			opts = append(opts, o)
		}
		conn, err = dtls.ClientWithOptions(t.conn, t.peerAddr(), opts...)
	} else {
		opts := make([]dtls.ServerOption, 0, len(shared)+1)
		for _, o := range shared {
			opts = append(opts, o)
		}
		opts = append(opts, dtls.WithClientAuth(dtls.RequireAnyClientCert))
		conn, err = dtls.ServerWithOptions(t.conn, t.peerAddr(), opts...)
	}
	if err != nil {
		t.fail(err)
		return
	}
	t.mu.Lock()
	if t.isClosed() {
		t.mu.Unlock()
		conn.Close()
		return
	}
	t.dtls = conn
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	err = conn.HandshakeContext(ctx)
	cancel()
	if err == nil {
		err = t.keys(conn)
	}
	if err != nil {
		t.fail(err)
		return
	}
	if t.state.CompareAndSwap(int32(StateConnecting), int32(StateConnected)) {
		t.cfg.Logger.Debug("dtls-srtp connected", "peer", t.Peer().String())
		if t.cfg.OnState != nil {
			t.cfg.OnState(StateConnected)
		}
	}
	// Keep reading: pion/dtls answers retransmitted flights and alerts
	// while the connection is read. Application data is not used.
	buf := make([]byte, 1500)
	for {
		if _, err := conn.Read(buf); err != nil {
			if !t.isClosed() && t.cfg.OnPeerClose != nil {
				t.cfg.OnPeerClose()
			}
			return
		}
	}
}

// fail records a handshake that did not complete.
func (t *Transport) fail(err error) {
	if t.state.CompareAndSwap(int32(StateConnecting), int32(StateFailed)) {
		t.cfg.Logger.Info("dtls handshake failed", "peer", t.Peer().String(), "err", err)
		if t.cfg.OnState != nil {
			t.cfg.OnState(StateFailed)
		}
	}
}

// keys exports the SRTP master keys of a completed handshake (RFC 5764
// §4.2) into the two contexts.
func (t *Transport) keys(conn *dtls.Conn) error {
	state, ok := conn.ConnectionState()
	if !ok {
		return errors.New("webrtc: no DTLS state after the handshake")
	}
	prof, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return errors.New("webrtc: peer negotiated no SRTP protection profile")
	}
	var sc srtp.Config
	switch prof {
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		sc.Profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	case dtls.SRTP_AEAD_AES_128_GCM:
		sc.Profile = srtp.ProtectionProfileAeadAes128Gcm
	default:
		return fmt.Errorf("webrtc: unsupported SRTP protection profile %#x", uint16(prof))
	}
	if err := sc.ExtractSessionKeysFromDTLS(&state, t.cfg.Client); err != nil {
		return fmt.Errorf("webrtc: SRTP keys: %w", err)
	}
	out, err := srtp.CreateContext(sc.Keys.LocalMasterKey, sc.Keys.LocalMasterSalt, sc.Profile)
	if err != nil {
		return fmt.Errorf("webrtc: SRTP context: %w", err)
	}
	in, err := srtp.CreateContext(sc.Keys.RemoteMasterKey, sc.Keys.RemoteMasterSalt, sc.Profile,
		srtp.SRTPReplayProtection(replayWindow), srtp.SRTCPReplayProtection(replayWindow))
	if err != nil {
		return fmt.Errorf("webrtc: SRTP context: %w", err)
	}
	t.in.mu.Lock()
	t.in.ctx = in
	t.in.mu.Unlock()
	t.out.mu.Lock()
	t.out.ctx = out
	t.out.mu.Unlock()
	t.ready.Store(true)
	return nil
}

// replayWindow is the SRTP replay window, in packets (RFC 3711 §3.3.2
// asks for at least 64).
const replayWindow = 64

// Close ends the transport: it sends the peer a DTLS close_notify if the
// handshake had begun, stops the handshake goroutine and waits for it.
// It is idempotent.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.state.Store(int32(StateClosed))
		conn, started := t.dtls, t.started
		t.mu.Unlock()
		t.cancel()
		if conn != nil {
			conn.Close()
		}
		t.conn.Close()
		if started {
			<-t.done
		}
	})
	return nil
}
