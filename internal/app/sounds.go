package app

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/mixer/audio"
)

// sounds are what queues play: each group's music and prompts (its own
// WAV files over the built-in ones) and the feature-code confirmation
// tone, decoded once at start and then only read.
type sounds struct {
	groups  map[string]groupSounds // tenant/group
	confirm []int16
	pause   []int16 // silence between the sentences of an announcement
}

type groupSounds struct {
	music   []int16
	prompts map[string][]int16 // replacements of built-in prompts by name
}

// loadSounds decodes every group's music and prompt files.
func loadSounds(cfg *config.Config, log *slog.Logger) (*sounds, error) {
	s := &sounds{groups: map[string]groupSounds{}, confirm: confirmTone(), pause: make([]int16, audio.SampleRate/4)}
	for ti, t := range cfg.Tenants {
		for gi, g := range t.Groups {
			p := fmt.Sprintf("tenants[%d].groups[%d].queue", ti, gi)
			gs := groupSounds{prompts: map[string][]int16{}}
			if g.Queue.Music != "" {
				pcm, err := audio.LoadWAV(g.Queue.Music)
				if err != nil {
					return nil, fmt.Errorf("%s.music: %w", p, err)
				}
				gs.music = pcm
			}
			if dir := g.Queue.Prompts; dir != "" {
				entries, err := os.ReadDir(dir)
				if err != nil {
					return nil, fmt.Errorf("%s.prompts: %w", p, err)
				}
				for _, e := range entries {
					name, ok := strings.CutSuffix(strings.ToLower(e.Name()), ".wav")
					if e.IsDir() || !ok {
						continue
					}
					if _, known := audio.Prompt(name); !known {
						log.Warn("prompt file replaces no built-in prompt; ignored", "file", filepath.Join(dir, e.Name()))
						continue
					}
					pcm, err := audio.LoadWAV(filepath.Join(dir, e.Name()))
					if err != nil {
						return nil, fmt.Errorf("%s.prompts: %w", p, err)
					}
					gs.prompts[name] = pcm
				}
			}
			s.groups[t.Name+"/"+g.Name] = gs
		}
	}
	return s, nil
}

// checkSound is config.Options.CheckSound: earshot must be able to play
// the file.
func checkSound(path string) error {
	_, err := audio.LoadWAV(path)
	return err
}

// playback turns what b2bua asks to play into the music and the clips the
// media engine plays.
func (s *sounds) playback(p b2bua.Playback) (music []int16, clips [][]int16) {
	if p.Confirm {
		return nil, [][]int16{s.confirm}
	}
	g := s.groups[p.Tenant+"/"+p.Group]
	clip := func(name string) []int16 {
		if pcm, ok := g.prompts[name]; ok {
			return pcm
		}
		pcm, _ := audio.Prompt(name)
		return pcm
	}
	if p.Prompt != "" {
		return nil, [][]int16{clip(p.Prompt), s.pause}
	}
	music = g.music
	if music == nil {
		music = audio.Music()
	}
	a := p.Announce
	say := func(names ...string) {
		for _, n := range names {
			clips = append(clips, clip(n))
		}
		clips = append(clips, s.pause)
	}
	if a.Welcome {
		say("queue-welcome")
	}
	if a.Position > 0 {
		say(append(append([]string{"queue-position"}, audio.Number(a.Position)...), "queue-in-line")...)
	}
	if a.Wait > 0 {
		if a.Wait < time.Minute {
			say("queue-wait", "queue-less-than-minute")
		} else {
			m := int((a.Wait + time.Minute - 1) / time.Minute)
			unit := "queue-minutes"
			if m == 1 {
				unit = "queue-minute"
			}
			say(append(append([]string{"queue-wait"}, audio.Number(min(m, 999))...), unit)...)
		}
	}
	return music, clips
}

// confirmTone is two short rising pips: a feature code was taken.
func confirmTone() []int16 {
	var out []int16
	for _, f := range []float64{660, 880} {
		n := audio.SampleRate * 12 / 100 // 120 ms
		for i := range n {
			g := math.Min(1, math.Min(float64(i), float64(n-1-i))/40)
			out = append(out, int16(0.3*32767*g*math.Sin(2*math.Pi*f*float64(i)/audio.SampleRate)))
		}
		out = append(out, make([]int16, audio.SampleRate*6/100)...)
	}
	return out
}

// ConfigOptions are the checks of a configuration file that need the
// media packages: every sound file it names must be playable.
func ConfigOptions() config.Options { return config.Options{CheckSound: checkSound} }
