package rtpengine

import (
	"errors"
	"math"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// TestDelayMixVsRelay measures the one-way delay the mix path adds over the
// relay path at zero network jitter. It runs pairs of calls side by side:
// in each pair one call is relayed and the other has a supervisor attached
// in whisper mode (so the agent hears the customer through the mixer; the
// supervisor's phone sends nothing), and
// one sender sends both customers' packets back to back from the same
// clock. Every tenth packet is a loud marker frame among silence; a reader
// on each agent socket timestamps the first marker frame of every burst,
// and the difference between a pair's mixed and relayed delays for the same
// marker is what the mixer adds. The pairs start at different offsets
// within the 20 ms frame, so the mixer's tick meets their packets at
// different phases. EARSHOT_DELAY_MODE=listen attaches the supervisors in
// listen mode instead, where the agent hears the customer through the
// relay (Session.markBypass): the figure is then what listening in adds.
// Gated like the load test:
//
//	EARSHOT_LOAD=1 go test ./rtpengine/ -run TestDelayMixVsRelay -v
func TestDelayMixVsRelay(t *testing.T) {
	needLoadEnv(t)
	mode := mixer.ModeWhisper
	switch m := os.Getenv("EARSHOT_DELAY_MODE"); m {
	case "", "whisper":
	case "listen":
		mode = mixer.ModeListen
	default:
		t.Fatalf("EARSHOT_DELAY_MODE=%q: want whisper or listen", m)
	}
	t.Logf("supervisors in %v mode", mode)
	const pairs = paceSlots // one per pacer slot: offsets 0, 2, …, 18 ms
	const markEvery = 10    // packets: a marker every 200 ms
	window := envDuration(t, "EARSHOT_DELAY_WINDOW", 10*time.Second)
	e := testEngine(t, func(c *Config) { c.Mixer.Workers = 1 }, nil)

	silence := make([]byte, 160)
	mark := make([]byte, 160)
	for i := range silence {
		silence[i], mark[i] = 0xFF, 0x80 // PCMU zero and full scale
	}
	var (
		// sent[k][path][m] is the send time of marker m of pair k on the
		// relay (0) or mix (1) path. Written by the sender goroutine,
		// read after the pacer has stopped. Both streams of a pair start
		// together, so m is the same marker on both.
		sent     [pairs][2][]time.Time
		sessions []*Session
		agents   [pairs][2]*net.UDPConn
		streams  [pairs][2]*paceStream
	)
	for k := range pairs {
		for path := range 2 {
			cust, agent := loadPhone(t), listen(t)
			s, err := e.NewSession("delay", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Offer(0, loadSDP(cust)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Answer(1, loadSDP(agent)); err != nil {
				t.Fatal(err)
			}
			if path == 1 {
				l, err := s.NewLeg(nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := l.AnswerOffer(loadSDP(loadPhone(t))); err != nil {
					t.Fatal(err)
				}
				if err := l.Attach(mode); err != nil {
					t.Fatal(err)
				}
				sessions = append(sessions, s)
			}
			agents[k][path] = agent
			streams[k][path] = &paceStream{conn: cust, dst: earshotRTP(s, 0), ssrc: uint32(2*k + path + 1),
				payload: silence, markPayload: mark,
				marker: func(n int, at time.Time) bool {
					if n%markEvery != 0 {
						return false
					}
					sent[k][path] = append(sent[k][path], at)
					return true
				}}
		}
	}

	// Readers first, so that no marker arrives unread.
	var arrived [pairs][2][]time.Time
	var wg sync.WaitGroup
	for k := range pairs {
		for path := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				arrived[k][path] = markerOnsets(agents[k][path])
			}()
		}
	}
	// One sender, so both paths of a pair are sent within microseconds;
	// pair k goes into slot k. The streams of a slot are sent in the order
	// they were added, so the relayed one always goes first, a few
	// microseconds ahead: that bias favours the mix path in the difference.
	p := newPacer(t, 1)
	for k := range pairs {
		p.addIn(0, k, streams[k][0])
		p.addIn(0, k, streams[k][1])
	}
	waitMixing(t, sessions)
	<-time.After(time.Second) // jitter buffers settle past the hand-over
	from := time.Now()
	<-time.After(window)
	to := time.Now()
	// Let the last markers arrive (the mix path holds them ~60 ms), then
	// end the readers.
	<-time.After(300 * time.Millisecond)
	p.Close()
	for k := range pairs {
		agents[k][0].Close()
		agents[k][1].Close()
	}
	wg.Wait()

	var relay, mixed, diff []time.Duration
	lost := 0
	for k := range pairs {
		r := matchDelays(sent[k][0], arrived[k][0])
		m := matchDelays(sent[k][1], arrived[k][1])
		for i := range min(len(r), len(m)) {
			if at := sent[k][0][i]; at.Before(from) || at.After(to) {
				continue
			}
			if r[i] < 0 || m[i] < 0 {
				lost++ // lost on one path: no pair to compare
				continue
			}
			relay, mixed, diff = append(relay, r[i]), append(mixed, m[i]), append(diff, m[i]-r[i])
		}
	}
	if want := int(window / (markEvery * mixer.FrameDuration) * pairs); len(diff) < want*9/10 {
		t.Fatalf("%d marker pairs measured (%d lost), want about %d", len(diff), lost, want)
	}
	st := e.Stats().Mixer
	t.Logf("%d marker pairs (%d lost on a path) over %v, %d pairs of calls at offsets 0–18 ms; jitter MinDepth %v", len(diff), lost, window, pairs, mixer.DefaultMinDepth)
	t.Logf("relay delay:  %s", summary(relay))
	t.Logf("mixed delay:  %s", summary(mixed))
	t.Logf("mix − relay:  %s", summary(diff))
	t.Logf("mixer: %d ticks, lateness mean %v; jitter buffers: %d played, %d concealed, %d late, %d inserted",
		st.Ticks, st.TickLateness.Sum/time.Duration(max(st.TickLateness.Count, 1)),
		st.Jitter.Played, st.Jitter.Concealed, st.Jitter.Late, st.Jitter.Inserted)
}

// markerOnsets reads RTP from conn until it is closed and returns the
// arrival time of every marker frame that follows a non-marker frame.
func markerOnsets(conn *net.UDPConn) []time.Time {
	var onsets []time.Time
	buf := make([]byte, 2048)
	prev := false
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		at := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return onsets
			}
			continue
		}
		if n < 12+160 {
			continue
		}
		// PCMU: the magnitude bits are inverted, so 0x00/0x80 are the
		// loudest and 0x7F/0xFF silence. The middle sample decides.
		loud := buf[12+80]&0x7F < 0x10
		if loud && !prev {
			onsets = append(onsets, at)
		}
		prev = loud
	}
}

// matchDelays gives, for each send time, the delay to the first onset
// after it and before the next send (-1 if none).
func matchDelays(sent, onsets []time.Time) []time.Duration {
	d := make([]time.Duration, len(sent))
	j := 0
	for i, s := range sent {
		d[i] = -1
		for j < len(onsets) && onsets[j].Before(s) {
			j++
		}
		if j < len(onsets) && (i+1 == len(sent) || onsets[j].Before(sent[i+1])) {
			d[i] = onsets[j].Sub(s)
			j++
		}
	}
	return d
}

// summary is the mean, p50, p99 and extremes of ds.
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum float64
	for _, d := range s {
		sum += float64(d)
	}
	q := func(p float64) time.Duration { return s[int(math.Ceil(p*float64(len(s))))-1] }
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return "mean " + r(time.Duration(sum/float64(len(s)))).String() +
		", p50 " + r(q(0.5)).String() + ", p99 " + r(q(0.99)).String() +
		", min " + r(s[0]).String() + ", max " + r(s[len(s)-1]).String()
}
