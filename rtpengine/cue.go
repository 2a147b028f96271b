package rtpengine

import (
	"fmt"
	"math"
	"time"

	"github.com/earshot/earshot/mixer"
)

// Cue is a short audible signal earshot plays into what one leg hears,
// mixed over that leg's audio.
type Cue int

// The cues. Their tones stay clear of the DTMF band's lower tones and are
// short and soft (-12 dBFS, 5 ms ramps so they do not click).
const (
	// CueBeep is one 1900 Hz beep of 200 ms: someone barged in (played to
	// the customer and the agent).
	CueBeep Cue = iota + 1
	// CueNotify is two 1900 Hz pips of 80 ms, 80 ms apart: monitoring
	// started (played to the agent where tenant policy says so).
	CueNotify
	// CueError is a low 440 Hz tone of 300 ms: a refused mode switch
	// (played to that supervisor).
	CueError
)

// String names the cue for logs.
func (c Cue) String() string {
	switch c {
	case CueBeep:
		return "beep"
	case CueNotify:
		return "notify"
	case CueError:
		return "error"
	}
	return "invalid"
}

const (
	cueAmplitude = 0.25 * 32767 // -12 dBFS
	cueRamp      = 40           // samples (5 ms) of raised-cosine fade in and out
)

// cueTables holds the PCM of every cue, built once per engine and then only
// read, by any number of mixer workers.
type cueTables [CueError + 1][]int16

func newCueTables() cueTables {
	var t cueTables
	t[CueBeep] = tone(nil, 1900, 1600)
	t[CueNotify] = tone(append(tone(nil, 1900, 640), make([]int16, 640)...), 1900, 640)
	t[CueError] = tone(nil, 440, 2400)
	return t
}

// tone appends n samples of a sine at freq Hz with faded edges.
func tone(dst []int16, freq float64, n int) []int16 {
	for i := range n {
		g := 1.0
		if edge := min(i, n-1-i); edge < cueRamp {
			g = 0.5 - 0.5*math.Cos(math.Pi*float64(edge)/cueRamp)
		}
		dst = append(dst, int16(cueAmplitude*g*math.Sin(2*math.Pi*freq*float64(i)/mixer.SampleRate)))
	}
	return dst
}

// cuePlayer is a leg's playback position in a cue. It belongs to the mixer
// worker; requests arrive through the leg's cueReq (generation<<8 | Cue),
// so a new request, even for the same cue, restarts it.
type cuePlayer struct {
	seen uint64
	pcm  []int16
	pos  int
}

// overlay mixes the next frame of the requested cue into payload, a G.711
// frame in codec c. It allocates nothing and costs nothing when no cue plays.
func (p *cuePlayer) overlay(g mixer.G711, t *cueTables, req uint64, payload []byte, c mixer.Codec) {
	if req != p.seen {
		p.seen, p.pcm, p.pos = req, t[Cue(req&0xff)], 0
	}
	if p.pos >= len(p.pcm) {
		return
	}
	pcm := p.pcm[p.pos:]
	n := min(len(pcm), len(payload))
	p.pos += n
	g.AddInto(c, payload[:n], pcm)
}

// done reports whether the last cue requested has been played to its end.
func (p *cuePlayer) done() bool { return p.pos >= len(p.pcm) }

// Cue plays c into what leg leg (0, 1 or a Leg's id) hears, over its audio,
// from the next mixer frame on. Only a mixed session can play cues: it
// fails with ErrNotMixed on the relay path. A new cue replaces one still
// playing on that leg.
func (s *Session) Cue(leg int, c Cue) error {
	if c < CueBeep || c > CueError {
		return newError(ErrBadCue, c.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return newError(ErrClosed, "")
	}
	l := s.legByIndex(leg)
	if l == nil {
		return newError(ErrBadLeg, fmt.Sprint(leg))
	}
	if s.mix == nil {
		return newError(ErrNotMixed, "")
	}
	gen := l.cueReq.Load()>>8 + 1
	req := gen<<8 | uint64(c)
	l.cueReq.Store(req)
	// A leg the relay feeds (markBypass) hears the mix while the cue
	// plays, and the relay again once it has.
	if err := s.reconcile(); err != nil {
		return err
	}
	s.watchCue(l, req)
	return nil
}

// Polling of a cue's end (watchCue): a cue lasts at most 300 ms, after
// priming; one the sink never plays (the leg left the mix) is forgotten
// after cueGiveUp.
const (
	cueCheck  = 100 * time.Millisecond
	cueGiveUp = 5 * time.Second
)

// watchCue reconciles the mix once the sink has played cue request req on
// l (cueDone), so that a leg bypassed before the cue is bypassed again.
func (s *Session) watchCue(l *leg, req uint64) {
	deadline := time.Now().Add(cueGiveUp)
	var check func()
	check = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || l.cueReq.Load() != req {
			return // a newer cue has its own watch
		}
		if l.cueDone.Load() != req {
			if time.Now().Before(deadline) {
				time.AfterFunc(cueCheck, check)
				return
			}
			l.cueDone.Store(req)
		}
		if err := s.reconcile(); err != nil {
			s.log.Warn("mix after a cue", "leg", l.id, "err", err)
		}
	}
	time.AfterFunc(cueCheck, check)
}

// legByIndex resolves 0 and 1 to the caller and callee legs and anything
// else to the open extra leg with that id. Caller holds s.mu.
func (s *Session) legByIndex(i int) *leg {
	if i == 0 || i == 1 {
		return s.pair.Load()[i]
	}
	for _, l := range s.extras {
		if l.id == i {
			return l
		}
	}
	return nil
}
