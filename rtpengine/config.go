package rtpengine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/earshot/earshot/mixer"
)

// Defaults used when a Config field is left at its zero value.
const (
	DefaultPortMin        = 10000
	DefaultPortMax        = 20000
	DefaultMediaTimeout   = 60 * time.Second
	DefaultPortQuarantine = 2 * time.Second
	// A browser gathers and checks candidates within a few seconds; 15 s
	// leaves room for a slow network without keeping a dead leg ringing.
	DefaultWebRTCICETimeout = 15 * time.Second
	// RFC 7675 §5.1: consent expires 30 s after the last response.
	DefaultWebRTCConsentTimeout = 30 * time.Second
)

// Config configures an Engine. The zero value of every field except BindAddr
// means its default.
type Config struct {
	// BindAddr is the local IP the RTP and RTCP sockets bind to. Required.
	BindAddr netip.Addr
	// AdvertisedAddr is written into the c= lines of the SDP earshot sends,
	// for deployments behind a 1:1 NAT. Zero means BindAddr.
	AdvertisedAddr netip.Addr
	// PortMin and PortMax bound the inclusive UDP port range. RTP uses the
	// even ports, RTCP the odd port just above. Both zero means
	// DefaultPortMin..DefaultPortMax.
	PortMin, PortMax int
	// MediaTimeout is how long a session may receive neither RTP nor RTCP
	// on any leg before its onTimeout is called. Zero means
	// DefaultMediaTimeout.
	MediaTimeout time.Duration
	// PortQuarantine is how long a released port rests before it is handed
	// out again, so that late packets of the old call never reach a new one.
	// Zero means DefaultPortQuarantine.
	PortQuarantine time.Duration
	// Logger receives the engine's logs. Nil discards them.
	Logger *slog.Logger
	// Mixer configures the engine's pool of mixer workers (their number,
	// how far they may fall behind). The zero value means the mixer's
	// defaults: one worker per CPU.
	Mixer mixer.PoolConfig
	// ReceiveLoops is the number of goroutines that receive on the media
	// sockets, each waiting on its share of them at once (see doc.go).
	// Zero means GOMAXPROCS minus one, at least one: a loop waits in a
	// blocking system call, and while every P is parked in one the Go
	// runtime takes each P back and hands it over on every wake-up, which
	// costs more than the packet. One P left free avoids that and keeps
	// a core for the mixer and signalling. Only Linux uses it.
	ReceiveLoops int
	// DedicatedReceive gives each receive loop a P of its own: while the
	// engine runs GOMAXPROCS is one higher per loop, and a loop waits
	// for its sockets in a system call the runtime does not track, so a
	// wake-up costs no hand-over of the P (see recvLoop.wait). The loop's
	// thread sleeps in the kernel while it waits, so the added P uses no
	// CPU then, and the mixer and signalling keep the Ps they had. It is
	// not used (a log line says so) under GODEBUG=asyncpreemptoff=1: the
	// runtime stops the world by signalling each running thread, and the
	// loops' wait must be interrupted by that signal. Its price: a few
	// interrupted waits per collection, each some tens of microseconds
	// (BenchmarkStopTheWorld). The engine's zero value is shared loops;
	// earshot's config (media.receive_threads) defaults to dedicated.
	// Only Linux uses it.
	DedicatedReceive bool
	// Latching chooses which sources may become a leg's peer (see
	// latch.go). The zero value is LatchNAT.
	Latching LatchMode
	// Jitter tunes the jitter buffers of mixed legs. The zero value means
	// the mixer's defaults. Its MinDepth also decides how long the relay
	// keeps running while the mixer primes (see doc.go).
	Jitter mixer.JitterConfig
	// WebRTCICETimeout is how long a WebRTC leg may wait for its first
	// valid ICE check before its transport is reported failed
	// (Session.OnTransportFailed, ReasonICEFailed): the browser found no
	// candidate of earshot's it could reach. Zero means
	// DefaultWebRTCICETimeout.
	WebRTCICETimeout time.Duration
	// WebRTCConsentTimeout is how long a connected WebRTC leg may go
	// without a valid ICE check before its consent is taken as expired
	// (RFC 7675: browsers refresh it every few seconds) and the transport
	// reported failed (ReasonConsentExpired). Zero means
	// DefaultWebRTCConsentTimeout.
	WebRTCConsentTimeout time.Duration
	// KernelRelay chooses whether relayed calls are forwarded in the
	// kernel (see kernelpath.go). The zero value is KernelOff.
	KernelRelay KernelMode
	// KernelInterfaces names the interfaces the in-kernel relay attaches
	// to. Empty means the loopback interface and those holding BindAddr.
	KernelInterfaces []string
	// IOUring chooses whether each mixer worker sends the frames of a
	// tick together, in one io_uring system call, rather than one sendto
	// per frame (see mixsend.go), and the receive loops likewise send
	// what they relay and read the packets of a wait. The zero value is
	// IOUringAuto.
	IOUring IOUringMode
}

// IOUringMode says whether the mixer's workers batch their sends.
type IOUringMode int

const (
	// IOUringAuto batches where the kernel allows io_uring and sends
	// each frame on its own otherwise, with a log line and
	// Stats.IOUring.Unavailable saying why.
	IOUringAuto IOUringMode = iota
	// IOUringOff sends each frame on its own.
	IOUringOff
	// IOUringOn fails New when io_uring cannot be set up.
	IOUringOn
)

// KernelMode says whether the engine uses the in-kernel relay.
type KernelMode int

const (
	// KernelOff relays every packet in userspace.
	KernelOff KernelMode = iota
	// KernelAuto uses the in-kernel relay where the process may load it
	// and relays in userspace otherwise, with a log line and
	// Stats.Kernel.Unavailable saying why.
	KernelAuto
	// KernelOn fails New when the in-kernel relay cannot be loaded.
	KernelOn
)

// withDefaults returns cfg with zero fields replaced by defaults, or an error
// naming every invalid field.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if !cfg.BindAddr.IsValid() {
		errs = append(errs, errors.New("BindAddr: required"))
	}
	cfg.BindAddr = cfg.BindAddr.Unmap()
	if !cfg.AdvertisedAddr.IsValid() {
		cfg.AdvertisedAddr = cfg.BindAddr
	}
	cfg.AdvertisedAddr = cfg.AdvertisedAddr.Unmap()
	if cfg.AdvertisedAddr.IsValid() && cfg.AdvertisedAddr.IsUnspecified() {
		// c=0.0.0.0 would tell every phone the call is on hold.
		errs = append(errs, errors.New("AdvertisedAddr: required when BindAddr is a wildcard address"))
	}
	if cfg.AdvertisedAddr.IsValid() && cfg.BindAddr.IsValid() && cfg.AdvertisedAddr.Is4() != cfg.BindAddr.Is4() {
		errs = append(errs, errors.New("AdvertisedAddr: must be of the same IP family as BindAddr"))
	}
	if cfg.PortMin == 0 && cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = DefaultPortMin, DefaultPortMax
	}
	if cfg.PortMin < 1024 || cfg.PortMax > 65535 || cfg.PortMin > cfg.PortMax {
		errs = append(errs, fmt.Errorf("PortMin/PortMax: %d..%d is not a range within 1024..65535", cfg.PortMin, cfg.PortMax))
	} else if pairsIn(cfg.PortMin, cfg.PortMax) < 2 {
		errs = append(errs, fmt.Errorf("PortMin/PortMax: %d..%d holds fewer than the 2 RTP/RTCP pairs one session needs", cfg.PortMin, cfg.PortMax))
	}
	switch {
	case cfg.MediaTimeout < 0:
		errs = append(errs, errors.New("MediaTimeout: negative"))
	case cfg.MediaTimeout == 0:
		cfg.MediaTimeout = DefaultMediaTimeout
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"WebRTCICETimeout", &cfg.WebRTCICETimeout, DefaultWebRTCICETimeout},
		{"WebRTCConsentTimeout", &cfg.WebRTCConsentTimeout, DefaultWebRTCConsentTimeout},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, errors.New(d.name+": negative"))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	switch {
	case cfg.PortQuarantine < 0:
		errs = append(errs, errors.New("PortQuarantine: negative"))
	case cfg.PortQuarantine == 0:
		cfg.PortQuarantine = DefaultPortQuarantine
	}
	if cfg.Mixer.Workers < 0 {
		errs = append(errs, errors.New("Mixer.Workers: negative"))
	}
	if cfg.Mixer.MaxCatchUp < 0 {
		errs = append(errs, errors.New("Mixer.MaxCatchUp: negative"))
	}
	switch {
	case cfg.ReceiveLoops < 0:
		errs = append(errs, errors.New("ReceiveLoops: negative"))
	case cfg.ReceiveLoops == 0:
		cfg.ReceiveLoops = max(1, baseProcs()-1)
	}
	if cfg.Latching != LatchNAT && cfg.Latching != LatchStrict {
		errs = append(errs, fmt.Errorf("latching: unknown mode %d", cfg.Latching))
	}
	if cfg.IOUring < IOUringAuto || cfg.IOUring > IOUringOn {
		errs = append(errs, fmt.Errorf("IOUring: unknown mode %d", cfg.IOUring))
	}
	if cfg.KernelRelay < KernelOff || cfg.KernelRelay > KernelOn {
		errs = append(errs, fmt.Errorf("KernelRelay: unknown mode %d", cfg.KernelRelay))
	}
	if cfg.Jitter.MinDepth < 0 || cfg.Jitter.MaxDepth < 0 {
		errs = append(errs, errors.New("jitter: negative depth"))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("rtpengine: invalid config: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// pairsIn counts the RTP/RTCP pairs (even port, port+1) inside min..max.
func pairsIn(min, max int) int {
	first := min + min%2
	if max < first+1 {
		return 0
	}
	return (max-first-1)/2 + 1
}
