package app

import (
	"fmt"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/rtpengine"
)

// mediaAdapter lets the b2bua drive rtpengine: rtpengine returns its own
// concrete types and speaks the mixer's modes; b2bua wants its interfaces
// and its own mode names. Neither package imports the other.
type mediaAdapter struct {
	e      *rtpengine.Engine
	sounds *sounds
}

func (m mediaAdapter) NewSession(callID string, onTimeout func()) (b2bua.MediaSession, error) {
	s, err := m.e.NewSession(callID, onTimeout)
	if err != nil {
		return nil, err
	}
	return sessionAdapter{s, m.sounds}, nil
}

type sessionAdapter struct {
	*rtpengine.Session
	sounds *sounds
}

// Play resolves what to play into the group's sounds.
func (a sessionAdapter) Play(leg int, p b2bua.Playback) error {
	music, clips := a.sounds.playback(p)
	return a.Session.Play(leg, music, clips...)
}

func (a sessionAdapter) AddLeg(onDigit func(byte)) (b2bua.MediaLeg, error) {
	l, err := a.NewLeg(onDigit)
	if err != nil {
		return nil, err
	}
	return legAdapter{l}, nil
}

func (a sessionAdapter) Cue(leg int, c b2bua.Cue) error {
	var rc rtpengine.Cue
	switch c {
	case b2bua.CueBeep:
		rc = rtpengine.CueBeep
	case b2bua.CueNotify:
		rc = rtpengine.CueNotify
	case b2bua.CueError:
		rc = rtpengine.CueError
	default:
		return fmt.Errorf("unknown cue %d", c)
	}
	return a.Session.Cue(leg, rc)
}

type legAdapter struct{ *rtpengine.Leg }

func (l legAdapter) Attach(m b2bua.Mode) error {
	mm, err := mixerMode(m)
	if err != nil {
		return err
	}
	return l.Leg.Attach(mm)
}

func mixerMode(m b2bua.Mode) (mixer.Mode, error) {
	switch m {
	case b2bua.ModeListen:
		return mixer.ModeListen, nil
	case b2bua.ModeWhisper:
		return mixer.ModeWhisper, nil
	case b2bua.ModeBarge:
		return mixer.ModeBarge, nil
	case b2bua.ModeIntercept:
		return mixer.ModeIntercept, nil
	}
	return mixer.ModeNone, fmt.Errorf("unknown supervision mode %q", m)
}
