package mixer

import "time"

// lateBoostDecay is how many pops without a late packet take one frame off
// the late boost: 10 s, so a burst of reordering keeps its extra delay for a
// while instead of oscillating.
const lateBoostDecay = 500

// Pop writes the next 20 ms of audio into out. It always produces exactly one
// frame: decoded audio, concealment, or silence. now is the playout time; it
// decides when a new stream has waited long enough to start.
func (j *JitterBuffer) Pop(now time.Time, out *Frame) {
	if raw := j.pop(now, out); raw != nil {
		j.codec.decode(out, raw[:])
	}
}

// pop is Pop for the mixer, which may not need the frame decoded: when the
// frame is a whole packet played as received, pop leaves out untouched and
// returns the packet's payload (valid until the next pop), and the mixer
// decodes it only if a mix needs linear samples (see mixFor). Otherwise it
// writes the frame into out and returns nil.
func (j *JitterBuffer) pop(now time.Time, out *Frame) *[FrameSamples]byte {
	if j.lateBoost > 0 {
		if j.sinceLate++; j.sinceLate >= lateBoostDecay {
			j.lateBoost--
			j.sinceLate = 0
		}
	}
	if !j.started {
		j.synthesise(out)
		return nil
	}
	if !j.playing {
		target := j.Target()
		if j.Depth() < target && now.Sub(j.prefetch) < time.Duration(target)*FrameDuration {
			j.synthesise(out)
			return nil
		}
		j.playing = true
		j.window = 0
	}
	switch j.control() {
	case adjustInsert:
		j.synthesise(out)
		return nil
	case adjustDrop:
		if s := &j.ring[j.next&ringMask]; s.ext == j.next && s.state == slotReady {
			s.state = slotPlayed
		}
		j.next++
		j.stats.DroppedOverflow++
	}
	s := &j.ring[j.next&ringMask]
	// Frames inserted while the buffer was empty already filled the time
	// of the numbers missing now: those packets were lost during the
	// underrun. Skip them instead of concealing them a second time, so a
	// loss at the tail of the buffer costs no extra delay.
	for j.held > 0 && j.next < j.highest && !(s.ext == j.next && s.state == slotReady) {
		j.held--
		j.next++
		s = &j.ring[j.next&ringMask]
	}
	switch {
	case s.ext == j.next && s.state == slotReady:
		s.state = slotPlayed
		j.next++
		j.concealRun = 0
		j.held = 0
		j.stats.Played++
		if s.n == FrameSamples {
			j.lastRaw, j.rawLast = s.payload, true
			return &j.lastRaw
		}
		j.codec.decode(out, s.payload[:s.n])
		j.last, j.rawLast = *out, false
	case j.next > j.highest:
		// Nothing buffered: hold the position. If the packet is only
		// late it will still be played; if it is lost, the next Pop
		// with later packets present skips it (see held).
		j.synthesise(out)
		j.held++
	default:
		// A hole with later packets waiting: the packet is lost.
		conceal(out, j.lastFrame(), j.concealRun)
		j.concealRun++
		j.next++
		j.stats.Concealed++
	}
	return nil
}

// lastFrame returns the last frame played, the source of concealment,
// decoding it first if pop handed it out undecoded.
func (j *JitterBuffer) lastFrame() *Frame {
	if j.rawLast {
		j.codec.decode(&j.last, j.lastRaw[:])
		j.rawLast = false
	}
	return &j.last
}

// synthesise fills out without consuming a sequence number: the fading
// repeat of the last frame while concealment lasts, silence after.
func (j *JitterBuffer) synthesise(out *Frame) {
	if j.concealRun >= concealFrames {
		clear(out[:])
		j.stats.Silence++
		return
	}
	conceal(out, j.lastFrame(), j.concealRun)
	j.concealRun++
	j.stats.Inserted++
}

// adjustment is the depth controller's decision for one pop.
type adjustment uint8

const (
	adjustNone adjustment = iota
	adjustDrop
	adjustInsert
)

// control watches the depth before each pop and, once per window, drops a
// frame if the buffer never fell to the target, or inserts one if it never
// reached it. Looking at the extremes over a window rather than the current
// depth keeps random jitter from triggering it.
func (j *JitterBuffer) control() adjustment {
	d := int64(j.Depth())
	if j.window == 0 {
		j.windowMin, j.windowMax = d, d
	} else {
		j.windowMin = min(j.windowMin, d)
		j.windowMax = max(j.windowMax, d)
	}
	if j.window++; j.window < controlWindow {
		return adjustNone
	}
	j.window = 0
	t := int64(j.Target())
	switch {
	case j.windowMin > t:
		return adjustDrop
	case j.windowMax < t:
		return adjustInsert
	}
	return adjustNone
}
