package rtpengine

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
	"github.com/zaf/g711"
)

// sine is n samples of a -12 dBFS sine at freq.
func sine(freq float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(0.25 * 32767 * math.Sin(2*math.Pi*freq*float64(i)/mixer.SampleRate))
	}
	return out
}

// A caller answered by earshot hears the prompt, then the music; a new
// announcement interrupts the music; a key press is reported; when the
// agent answers the offer narrowed to the caller's codec, the session
// goes to the relay and both hear each other — and the caller's stream is
// one stream from the first prompt to the agent's voice: one SSRC,
// sequence +1, timestamp +160.
func TestQueuedCallerHearsPlaybackThenAgent(t *testing.T) {
	e := testEngine(t, nil, nil)
	cust := newTonePhone(t, mixer.CodecPCMA, 700)
	agent := newTonePhone(t, mixer.CodecPCMA, 950)
	s, err := e.NewSession("queued", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	offer := append([]byte(nil), cust.sdp()...)
	// The caller offers PCMU too, second: earshot answers in the caller's
	// order.
	offer = bytes.Replace(offer, []byte("RTP/AVP 8 101"), []byte("RTP/AVP 8 0 101"), 1)
	if _, err := s.Offer(0, offer); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(0, nil); err == nil {
		t.Fatal("Play before the caller's codec is settled: no error")
	}
	answer, fwd, err := s.AnswerLocal(0, offer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(answer, []byte("m=audio ")) || !bytes.Contains(answer, []byte(" RTP/AVP 8 101\r\n")) {
		t.Fatalf("local answer does not settle PCMA + telephone-event:\n%s", answer)
	}
	// Narrowed to the caller's law, then the other one for an agent whose
	// phone has only that (transcoded).
	if !bytes.Contains(fwd, []byte(" RTP/AVP 8 0 101\r\n")) {
		t.Fatalf("offer for the agent not narrowed to the caller's codec:\n%s", fwd)
	}
	digits := make(chan byte, 4)
	if err := s.OnDigit(0, func(d byte) { digits <- d }); err != nil {
		t.Fatal(err)
	}
	cust.start(earshotRTP(s, 0))
	music, prompt := sine(600, 8000), sine(1200, 4000)
	if err := s.Play(0, music, prompt); err != nil {
		t.Fatal(err)
	}
	if !s.Mixed() {
		t.Fatal("a session playing to its caller is not mixed")
	}
	cust.waitSamples(1200 * 8)
	cust.heard("prompt first", 1200, 100*8, 300*8)
	cust.absent("no music during the prompt", 600, 100*8, 300*8)
	cust.heard("music after the prompt", 600, 700*8, 400*8)
	cust.absent("no prompt after it ended", 1200, 700*8, 400*8)

	// An announcement: the prompt again, in two clips with an empty one
	// between them (played as one, the empty one skipped), then the
	// music goes on. The clips are played from the caller's slices, not
	// copied.
	from := cust.samples()
	if err := s.Play(0, music, prompt[:1500], nil, prompt[1500:]); err != nil {
		t.Fatal(err)
	}
	if pb := s.pair.Load()[0].play.Load(); len(pb.prompts) != 2 || &pb.prompts[0][0] != &prompt[0] || &pb.prompts[1][0] != &prompt[1500] {
		t.Fatalf("the playback's prompts are not the caller's two clips: %d prompts", len(pb.prompts))
	}
	cust.waitSamples(from + 1100*8)
	cust.heard("announcement", 1200, from+150*8, 250*8)
	cust.heard("music after the announcement", 600, from+700*8, 300*8)

	for i := range 3 {
		cust.event(9, i == 2, uint16(160*(i+1)), 4242)
	}
	select {
	case d := <-digits:
		if d != '9' {
			t.Fatalf("digit %q, want '9'", d)
		}
	case <-time.After(rxTimeout):
		t.Fatal("the caller's key press was not reported")
	}

	// The agent answers: music stops, the relay takes over.
	if err := s.StopPlay(0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Answer(1, agent.sdp()); err != nil {
		t.Fatal(err)
	}
	agent.start(earshotRTP(s, 1))
	if s.Mixed() {
		t.Fatal("still mixed after the playback stopped")
	}
	f := measure(cust, agent)
	cust.heard("customer hears the agent", 950, f[0], win)
	cust.absent("no music after the hand-off", 600, f[0], win)
	agent.heard("agent hears the customer", 700, f[1], win)
	select {
	case d := <-digits:
		t.Fatalf("digit %q reported twice", d)
	default:
	}
	checkStream(t, "customer", cust)
}

// testG711 is the mixer's tables for tests that call the overlays alone.
var testG711 = mixer.NewG711()

// The playback overlay allocates nothing per frame.
func TestPlaybackOverlayAllocs(t *testing.T) {
	p := &playback{music: sine(600, 800), prompts: [][]int16{sine(1200, 500), sine(900, 100)}}
	var pl player
	frame := make([]byte, mixer.FrameSamples)
	if n := testing.AllocsPerRun(200, func() { pl.overlay(testG711, p, frame, mixer.CodecPCMU) }); n != 0 {
		t.Fatalf("%v allocs per frame", n)
	}
}

// Playback order: the prompts once, then the music looped; a replaced
// playback with the same music keeps its position, other music restarts.
func TestPlayerSequence(t *testing.T) {
	music := []int16{1000, 2000, 3000}
	p1 := &playback{music: music, prompts: [][]int16{{-5000}, {-6000, -4000}}}
	var pl player
	got := func(p *playback, n int) []int16 {
		frame := make([]byte, n)
		for i := range frame {
			frame[i] = 0xff // µ-law silence
		}
		pl.overlay(testG711, p, frame, mixer.CodecPCMU)
		out := make([]int16, n)
		for i, b := range frame {
			out[i] = g711.DecodeUlawFrame(b)
		}
		return out
	}
	near := func(a, b int16) bool { return math.Abs(float64(a)-float64(b)) < float64(max(abs16(b)/16, 40)) }
	check := func(what string, have, want []int16) {
		t.Helper()
		for i := range want {
			if !near(have[i], want[i]) {
				t.Fatalf("%s: sample %d = %d, want about %d (%v)", what, i, have[i], want[i], have)
			}
		}
	}
	check("prompts then music", got(p1, 7), []int16{-5000, -6000, -4000, 1000, 2000, 3000, 1000})
	check("music goes on", got(p1, 1), []int16{2000})
	p1b := &playback{music: music, prompts: [][]int16{{-5000}, {-6000, -4000}}}
	check("a prompt across frames", got(p1b, 2), []int16{-5000, -6000})
	check("a prompt across frames, the rest", got(p1b, 2), []int16{-4000, 3000})
	p2 := &playback{music: music, prompts: [][]int16{{-7000}}}
	check("same music goes on", got(p2, 3), []int16{-7000, 1000, 2000})
	p3 := &playback{music: []int16{500, 600}}
	check("other music restarts", got(p3, 3), []int16{500, 600, 500})
	check("nothing to play", got(&playback{}, 2), []int16{0, 0})
	check("playing again", got(p1, 1), []int16{-5000})
	check("playing again, second prompt", got(p1, 2), []int16{-6000, -4000})
	check("stopped while mixed", got(nil, 2), []int16{0, 0})
	check("music restarts after a stop", got(&playback{music: music}, 1), []int16{1000})
}

func abs16(v int16) int16 {
	if v < 0 {
		return -v
	}
	return v
}

// BenchmarkPlaybackFrame is the per-frame cost of music on hold: one 20 ms
// frame of music laid over the mixer's (silent) frame for a waiting
// caller, in each codec. 0 allocs/op.
func BenchmarkPlaybackFrame(b *testing.B) {
	p := &playback{music: sine(600, 64000)}
	for _, c := range []mixer.Codec{mixer.CodecPCMU, mixer.CodecPCMA} {
		b.Run(c.String(), func(b *testing.B) {
			var pl player
			frame := make([]byte, mixer.FrameSamples)
			b.ReportAllocs()
			for b.Loop() {
				pl.overlay(testG711, p, frame, c)
			}
		})
	}
}

// BenchmarkPlayAnnouncement is what a queue's announcement to a joining
// caller costs: Play with the ten clips of a welcome, a position and a
// wait (13 s of audio, as the default config's prompts make them) on a
// session that is already playing. The clips are played from the
// caller's slices, so the bytes per op do not grow with the audio.
func BenchmarkPlayAnnouncement(b *testing.B) {
	e := testEngine(b, nil, nil)
	cust := newPhone(b)
	s, err := e.NewSession("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	offer := cust.sdp("")
	if _, err := s.Offer(0, offer); err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.AnswerLocal(0, offer); err != nil {
		b.Fatal(err)
	}
	music := sine(600, 8000)
	clips := make([][]int16, 10)
	for i := range clips {
		clips[i] = sine(1200, 10400)
	}
	if err := s.Play(0, music, clips...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Play(0, music, clips...); err != nil {
			b.Fatal(err)
		}
	}
}
