package mixer

import (
	"fmt"
	"sync/atomic"
	"time"
)

// LegID names a leg within a session. The caller (the RTP engine) chooses
// it; it is handed back to the Sink with every frame for that leg.
type LegID uint64

// LegConfig describes a leg to add to a session.
type LegConfig struct {
	// ID must be unique within the session.
	ID LegID
	// Role and Mode place the leg in the hear-matrix; Mode is ModeNone
	// unless Role is RoleSupervisor.
	Role Role
	Mode Mode
	// Codec is the leg's negotiated G.711 variant, used both to decode
	// what it sends and to encode what it hears.
	Codec Codec
	// Jitter tunes the leg's jitter buffer; zero fields take the
	// session's settings, and then the defaults.
	Jitter JitterConfig
	// Bypass starts the leg bypassed (see Session.SetBypass).
	Bypass bool
}

// validate checks the static parts of cfg.
func (cfg LegConfig) validate() error {
	if !cfg.Codec.Valid() {
		return fmt.Errorf("%w: leg %d codec %d", ErrUnsupportedCodec, cfg.ID, cfg.Codec)
	}
	if p := (Party{Role: cfg.Role, Mode: cfg.Mode}); !p.Valid() {
		return fmt.Errorf("%w: leg %d role %v mode %v", ErrInvalidParty, cfg.ID, cfg.Role, cfg.Mode)
	}
	return nil
}

// Leg is one party's audio in a mixed session: an inbound stream that is
// buffered and decoded, and an outbound mix made for it every tick.
//
// Push may be called from any goroutine (normally the leg's socket reader);
// everything else in a Leg belongs to the goroutine that ticks its session.
type Leg struct {
	id    LegID
	codec Codec

	in      inbox
	removed atomic.Bool
	bypass  atomic.Bool // no frame is made for the leg (Session.SetBypass)

	// Worker-owned state, reused every tick so that mixing allocates
	// nothing.
	jb JitterBuffer
	// What this leg said this tick: raw, a whole frame as received, or
	// nil; pcm, valid when decoded is set (frame decodes raw on demand).
	raw     *[FrameSamples]byte
	decoded bool
	pcm     Frame
	acc     [FrameSamples]int32 // sum of what it hears
	mix     Frame               // the clamped sum
	enc     [FrameSamples]byte  // the mix in this leg's codec
}

// newLeg allocates a leg with its buffers.
func newLeg(cfg LegConfig, dropped *atomic.Uint64) *Leg {
	l := &Leg{id: cfg.ID, codec: cfg.Codec}
	l.in.total = dropped
	l.jb = *NewJitterBuffer(cfg.Codec, cfg.Jitter)
	l.bypass.Store(cfg.Bypass)
	return l
}

// ID returns the leg's id.
func (l *Leg) ID() LegID { return l.id }

// Codec returns the leg's codec.
func (l *Leg) Codec() Codec { return l.codec }

// Push hands the mixer one RTP packet received from this leg: the payload
// (copied before Push returns, so the caller may reuse its read buffer), the
// header's sequence number, timestamp, SSRC and marker bit, and the time the
// packet arrived. It never blocks on the mixer and never allocates. It
// returns false if the packet was dropped: the leg was removed, or more than
// 32 packets piled up between two ticks.
func (l *Leg) Push(payload []byte, seq uint16, ts, ssrc uint32, marker bool, arrival time.Time) bool {
	if l.removed.Load() {
		return false
	}
	return l.in.push(payload, seq, ts, ssrc, marker, arrival)
}

// Dropped returns how many packets Push dropped because the inbox was full.
func (l *Leg) Dropped() uint64 { return l.in.dropped.Load() }

// frame returns what the leg said this tick as linear samples, decoding
// the raw frame the first time a mix needs it.
func (l *Leg) frame() *Frame {
	if !l.decoded {
		l.codec.decode(&l.pcm, l.raw[:])
		l.decoded = true
	}
	return &l.pcm
}
