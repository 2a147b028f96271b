package rtpengine

import (
	"slices"

	"github.com/earshot/earshot/mixer"
	"github.com/pion/sdp/v3"
)

// A caller waiting in a queue is answered by earshot itself (AnswerLocal)
// before any callee exists, and hears what earshot plays (Play): prompts
// once, in order, then music looped. The leg goes into the session's mix
// as the customer with nobody to hear, and the sink overlays the playback
// on its frames, so music and prompts are clocked by the mixer worker that
// ticks the session — no goroutine or timer per caller — and the caller's
// stream is the leg's one continuous output stream from the first music
// frame to the agent's relayed voice. StopPlay ends it; when the callee's
// answer arrives the session goes to the relay (or stays mixed while
// supervised) and the stream re-bases without a gap.

// playback is what a leg hears instead of a peer: prompts played once,
// in order, then music looped. Immutable, behind leg.play. The prompts
// are the caller's slices, not a copy: a queue plays several seconds of
// prompts to every waiting caller, and concatenating them cost a copy of
// the audio per caller just when callers pile up.
type playback struct {
	music   []int16
	prompts [][]int16 // none empty
}

// player is a leg's position in its playback. It belongs to the mixer
// worker (the sink); a new playback pointer restarts the prompts and keeps
// the music's position when the music is the same.
type player struct {
	cur      *playback
	musicPos int
	prompt   int // the prompt playing, an index in cur.prompts
	promptAt int // the next sample of that prompt
}

// overlay mixes the next frame of p into payload (a G.711 frame in codec
// c). It allocates nothing and costs nothing without a playback.
func (pl *player) overlay(g mixer.G711, p *playback, payload []byte, c mixer.Codec) {
	if p != pl.cur {
		if p == nil || pl.cur == nil || !sameSamples(pl.cur.music, p.music) {
			pl.musicPos = 0
		}
		pl.cur, pl.prompt, pl.promptAt = p, 0, 0
	}
	if p == nil {
		return
	}
	// The samples to lay over the frame, a frame's worth at a time:
	// prompts, then music; with neither left the rest is untouched.
	var pcm mixer.Frame
	for len(payload) > 0 {
		n := 0
		for ; n < min(len(payload), len(pcm)); n++ {
			switch {
			case pl.prompt < len(p.prompts):
				pr := p.prompts[pl.prompt]
				pcm[n] = pr[pl.promptAt]
				if pl.promptAt++; pl.promptAt == len(pr) {
					pl.prompt, pl.promptAt = pl.prompt+1, 0
				}
			case len(p.music) > 0:
				pcm[n] = p.music[pl.musicPos]
				if pl.musicPos++; pl.musicPos == len(p.music) {
					pl.musicPos = 0
				}
			default:
				g.AddInto(c, payload[:n], pcm[:n])
				return
			}
		}
		g.AddInto(c, payload[:n], pcm[:n])
		payload = payload[n:]
	}
}

// sameSamples reports whether a and b are the same slice (same backing
// array and length): the music of two playbacks is then one loop.
func sameSamples(a, b []int16) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// AnswerLocal answers the offer received on leg from itself, before the
// other leg has a peer: earshot's address and that leg's port, the offer's
// first G.711 format (the offerer's preference) and telephone-event if
// offered. It returns that answer and, for the other leg, the offer last
// returned by Offer narrowed to the settled formats, so that whoever
// answers there later uses the same codec and payload type numbers, or
// the other G.711 law, transcoded (its Answer then returns an answer the
// caller needs no more). The media
// timeout is armed: the leg's peer sends RTP from now on. ErrNoCommonCodec
// (488) if the offer has no G.711 format; ErrNoOffer if Offer was not
// called for leg from.
func (s *Session) AnswerLocal(from int, offer []byte) (answer, other []byte, err error) {
	if err := checkLeg(from); err != nil {
		return nil, nil, err
	}
	to := 1 - from
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, newError(ErrClosed, "")
	}
	pair := s.pair.Load()
	if pair[to].plan == nil || pair[to].origin.last == nil {
		return nil, nil, newError(ErrNoOffer, "no offer received on the leg")
	}
	desc, remote, err := answerWith(offer, sdpParams{addr: s.eng.cfg.AdvertisedAddr, port: int(pair[from].port)}, false,
		func(w *remoteWebRTC) (*localWebRTC, error) { return s.setWebRTC(pair[from], w) })
	if err != nil {
		return nil, nil, err
	}
	if remote.webrtc == nil {
		s.setWebRTC(pair[from], nil)
	}
	var fwd sdp.SessionDescription
	if err := fwd.Unmarshal(pair[to].origin.last); err != nil {
		return nil, nil, newError(ErrUnparseableSDP, err.Error())
	}
	plan := *pair[to].plan
	md := fwd.MediaDescriptions[plan.index]
	narrowFormats(md, remote.formats)
	// The other law too: an agent whose phone has only that one still
	// connects (transcoded).
	plan.formats = addOtherLaw(md, slices.Clone(remote.formats))
	pair[to].plan = &plan

	s.setRemote(pair[from], remote)
	m := remote.media
	pair[from].media.Store(&m)
	pair[from].local = true
	s.late = false
	s.armedAt.CompareAndSwap(0, max(s.eng.nanotime(), 1))
	if err := s.reconcile(); err != nil {
		s.log.Warn("mix after local answer", "err", err)
	}
	return pair[from].origin.stamp(desc), pair[to].origin.stamp(&fwd), nil
}

// Play makes leg (0 or 1) hear prompts, once and in order, and then music
// looped, from the next mixer frame on; music nil means silence after the
// prompts. A leg playing something is mixed (as the customer or agent it
// is), so Play moves the session to the mix path; the leg's codec must be
// settled (AnswerLocal or an answer), else ErrNotMixable. A new Play
// replaces the last: the prompts start over, the same music goes on where
// it was. The slices are only read, and must not change afterwards.
func (s *Session) Play(leg int, music []int16, prompts ...[]int16) error {
	if err := checkLeg(leg); err != nil {
		return err
	}
	p := &playback{music: music, prompts: make([][]int16, 0, len(prompts))}
	for _, c := range prompts {
		if len(c) > 0 {
			p.prompts = append(p.prompts, c)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return newError(ErrClosed, "")
	}
	l := s.pair.Load()[leg]
	if !l.media.Load().codec.Valid() {
		return newError(ErrNotMixable, "the leg has no G.711 codec settled")
	}
	l.play.Store(p)
	return s.reconcile()
}

// StopPlay ends what leg hears from Play. If nothing else needs the mix
// the session returns to the relay, and the leg's stream re-bases on the
// relay's next packet without a gap.
func (s *Session) StopPlay(leg int) error {
	if err := checkLeg(leg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return newError(ErrClosed, "")
	}
	if s.pair.Load()[leg].play.Swap(nil) == nil {
		return nil
	}
	return s.reconcile()
}

// OnDigit reports the RFC 4733 telephone-events received on leg (0 or 1)
// to fn, once per event, from the receive loop reading the leg (fn must
// not block); nil stops it. The events are still relayed to the other
// leg as before: a caller in a queue presses a key to leave it.
func (s *Session) OnDigit(leg int, fn func(digit byte)) error {
	if err := checkLeg(leg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return newError(ErrClosed, "")
	}
	l := s.pair.Load()[leg]
	if fn == nil {
		l.digitFn.Store(nil)
		return nil
	}
	l.digitFn.Store(&fn)
	return nil
}

// playing reports whether a pair leg hears a playback, which needs the
// mix. Caller holds s.mu.
func (s *Session) playing() bool {
	for _, l := range s.pair.Load() {
		if l.play.Load() != nil && l.media.Load().codec.Valid() {
			return true
		}
	}
	return false
}
