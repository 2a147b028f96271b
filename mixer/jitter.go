package mixer

import "time"

// ringSize is the number of frames a jitter buffer can hold, a power of two
// so that a slot is found by masking the extended sequence number. 32 frames
// is 640 ms: more than MaxDepth can ask for, with room for reordering.
const (
	ringSize = 32
	ringMask = ringSize - 1
)

// JitterConfig tunes a JitterBuffer. The zero value means the defaults.
type JitterConfig struct {
	// MinDepth is the smallest playout delay the buffer aims for, however
	// steady the arrivals. Default 40 ms (two frames); rounded up to
	// whole frames; at least one frame.
	MinDepth time.Duration
	// MaxDepth is the largest playout delay the buffer lets jitter push it
	// to. Default 300 ms; capped at 480 ms so the ring keeps room for
	// reordered packets.
	MaxDepth time.Duration
}

// Defaults of JitterConfig.
const (
	DefaultMinDepth = 40 * time.Millisecond
	DefaultMaxDepth = 300 * time.Millisecond
	maxMaxFrames    = ringSize - 8
)

// frames converts the config to whole frames, applying defaults and limits.
func (c JitterConfig) frames() (minFrames, maxFrames int) {
	lo, hi := c.MinDepth, c.MaxDepth
	if lo <= 0 {
		lo = DefaultMinDepth
	}
	if hi <= 0 {
		hi = DefaultMaxDepth
	}
	minFrames = int((lo + FrameDuration - 1) / FrameDuration)
	maxFrames = int((hi + FrameDuration - 1) / FrameDuration)
	minFrames = min(max(minFrames, 1), maxMaxFrames)
	maxFrames = min(max(maxFrames, minFrames), maxMaxFrames)
	return minFrames, maxFrames
}

// JitterStats are the counters of one JitterBuffer. Every Pop adds one to
// exactly one of Played, Concealed, Inserted and Silence.
type JitterStats struct {
	Played    uint64 // frames decoded from a received packet
	Concealed uint64 // frames synthesised for a lost packet (its number skipped)
	Inserted  uint64 // frames synthesised without consuming a number: underrun or growing the delay
	Silence   uint64 // frames with nothing to play or conceal from

	Late            uint64 // packets that arrived after their turn had passed
	Duplicate       uint64 // packets already received
	Reordered       uint64 // packets that arrived after a higher number, still in time
	DroppedOverflow uint64 // frames thrown away to shrink the delay or because they fell outside the ring
	SSRCChanges     uint64 // times the sender's SSRC changed (each resets the buffer)
	Resyncs         uint64 // times a sequence jump with the same SSRC reset the buffer
}

// slot states.
const (
	slotEmpty uint8 = iota
	slotReady
	slotPlayed
)

// slot holds one packet's payload. ext tells which sequence number is in it,
// since numbers a ring apart share a slot.
type slot struct {
	ext     int64
	state   uint8
	n       uint8
	payload [FrameSamples]byte
}

// JitterBuffer turns the packets of one inbound RTP stream, as they arrive,
// into a steady stream of 20 ms PCM frames. It is not safe for concurrent
// use: its owner (the mixer worker, or a test) calls Push and Pop in turn and
// supplies the time, so its behaviour is a pure function of its inputs.
//
// Design in brief (docs/mixer.md has the reasoning): packets go into a ring
// indexed by their unwrapped sequence number; playout starts once the first
// packet has waited the target delay and then takes one number per Pop. A
// missing number with later packets present is concealed and skipped; an
// empty buffer is held (a frame is inserted) rather than skipped, so a slow
// sender or a late packet adds delay instead of losses. Every 25 pops the
// lowest and highest depth seen decide whether to drop one frame (the buffer
// stayed above target: a fast sender, or jitter that has calmed down) or
// insert one (it never reached target: jitter has grown). The target itself
// is derived from the RFC 3550 jitter estimate, plus a boost after late
// packets, between MinDepth and MaxDepth.
type JitterBuffer struct {
	codec     Codec
	minFrames int
	maxFrames int

	ring [ringSize]slot

	ssrc     uint32
	started  bool // a packet arrived since the last reset
	playing  bool // prefetch done; next advances
	unwrap   seqUnwrapper
	next     int64 // extended number to play next
	highest  int64 // highest extended number received
	prefetch time.Time

	est       jitterEstimator
	lateBoost int
	sinceLate int

	window    int // pops in the current control window
	windowMin int64
	windowMax int64

	farRun int   // consecutive packets far outside the ring window
	farExt int64 // the last of them, to check the run is consistent

	last       Frame // last frame played, the source of concealment
	lastRaw    [FrameSamples]byte
	rawLast    bool  // last is lastRaw, not yet decoded (see lastFrame)
	concealRun int   // consecutive synthesised frames so far
	held       int64 // frames inserted on underrun since the last one played

	stats JitterStats
}

// controlWindow is how many pops the depth controller watches before it
// drops or inserts at most one frame: 500 ms, slow enough not to react to a
// single burst, fast enough to follow a ±0.5% clock (one frame per 4 s).
const controlWindow = 25

// NewJitterBuffer returns a buffer for a stream in codec c.
func NewJitterBuffer(c Codec, cfg JitterConfig) *JitterBuffer {
	// concealRun starts exhausted: there is no frame to conceal from yet.
	j := &JitterBuffer{codec: c, concealRun: concealFrames}
	j.minFrames, j.maxFrames = cfg.frames()
	return j
}

// Stats returns the counters so far.
func (j *JitterBuffer) Stats() JitterStats { return j.stats }

// Depth returns how many frames are buffered ahead of playout, counting
// holes left by lost packets; the playout delay is Depth × 20 ms.
func (j *JitterBuffer) Depth() int {
	if !j.started || j.highest < j.next {
		return 0
	}
	return int(j.highest - j.next + 1)
}

// Target returns the depth in frames the buffer currently aims for.
func (j *JitterBuffer) Target() int {
	// Uniform jitter of width W gives J ≈ W/3, so 3J covers it; one more
	// frame absorbs the phase between arrivals and the playout clock.
	j3 := 3 * j.est.samples()
	t := 1 + int((j3+FrameSamples-1)/FrameSamples) + j.lateBoost
	return min(max(t, j.minFrames), j.maxFrames)
}

// Jitter returns the RFC 3550 interarrival jitter estimate.
func (j *JitterBuffer) Jitter() time.Duration {
	return time.Duration(j.est.samples()) * (time.Second / SampleRate)
}

// restart forgets the stream but keeps the counters and the last frame, so
// concealment can still fade out smoothly across the reset.
func (j *JitterBuffer) restart() {
	for i := range j.ring {
		j.ring[i].state = slotEmpty
	}
	j.started = false
	j.playing = false
	j.unwrap.reset()
	j.est.reset()
	j.lateBoost, j.sinceLate = 0, 0
	j.window = 0
	j.farRun = 0
	j.held = 0
}
