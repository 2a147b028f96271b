package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// Tones of a supervised call. Mixed audio is re-encoded in G.711, whose
// quantisation creates intermodulation products (2·f1 − f2 and the like);
// these four frequencies keep every low-order product away from each other
// (700/1100/1500 do not: 2·1100 − 700 = 1500).
const (
	sCust = 700.0
	sAgt  = 950.0
	sSup  = 1250.0
	sSup2 = 1700.0
	// sLevel keeps three mixed parties far below clipping.
	sLevel = -18.0
)

// party is one side of a supervised call as the tests see it.
type party struct {
	name string
	s    *phone.Session
	tone float64
}

// supCall is a customer↔agent call that supervisors join.
type supCall struct {
	t           *testing.T
	e           *env
	custPhone   *phone.Phone
	agentPhone  *phone.Phone
	cust, agent party
}

type callOpts struct {
	custCodec, agentCodec uint8
	loss                  float64
	jitter                time.Duration
}

// newSupCall sets up customer → 100 → agent 1001, both sending their tone.
func newSupCall(t *testing.T, e *env, o callOpts) *supCall {
	t.Helper()
	ap := e.phone(phone.Config{IP: "127.0.0.13", User: "1001", Password: "demo", Tone: sAgt, Level: sLevel,
		Codec: o.agentCodec, Loss: o.loss, Jitter: o.jitter})
	if code, err := ap.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register agent: %d %v", code, err)
	}
	cp := e.phone(phone.Config{IP: "127.0.0.2", User: "5551234", Name: "Customer", Tone: sCust, Level: sLevel,
		Codec: o.custCodec, Loss: o.loss, Jitter: o.jitter})
	answered := answerNext(t, ap)
	cs, err := cp.Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("customer call: %v", err)
	}
	as := <-answered
	if as == nil {
		t.Fatal("agent did not answer")
	}
	// Hang up before earshot shuts down, or shutdown waits for the call.
	t.Cleanup(func() { _ = cs.Hangup(context.Background()) })
	sc := &supCall{t: t, e: e, custPhone: cp, agentPhone: ap,
		cust: party{"customer", cs, sCust}, agent: party{"agent", as, sAgt}}
	sc.expect("relay", hearing{sc.cust: {sAgt}, sc.agent: {sCust}}, sCust, sAgt)
	return sc
}

// supervisor registers a supervisor's phone (extension ext) from ip.
func (sc *supCall) supervisor(ext, ip string, tone float64, codec uint8) *phone.Phone {
	sc.t.Helper()
	p := sc.e.phone(phone.Config{IP: ip, User: ext, Password: "demo", Tone: tone, Level: sLevel, Codec: codec})
	if code, err := p.Register(ctx(sc.t), 600); err != nil || code != 200 {
		sc.t.Fatalf("register %s: %d %v", ext, code, err)
	}
	return p
}

// dial makes a supervisor phone dial a feature code; it returns the
// session or the SIP status of the refusal.
func dial(t *testing.T, p *phone.Phone, number string) (*phone.Session, int) {
	t.Helper()
	s, err := p.Call(ctx(t), number)
	if err != nil {
		if se, ok := err.(*phone.StatusError); ok {
			return nil, se.Code
		}
		t.Fatalf("dial %s: %v", number, err)
	}
	return s, 200
}

// hearing says, for each party, which tones it must hear; every other
// tone of the call (the list given to expect) it must not hear.
type hearing map[party][]float64

// expect waits until every party hears exactly what h says — each listed
// tone above heard, each other tone of the call below absent — all at once
// in the same look, or fails with what was measured. Switches take effect
// within a few frames; old audio leaves the 400 ms window after that.
func (sc *supCall) expect(step string, h hearing, tones ...float64) {
	sc.t.Helper()
	deadline := time.Now().Add(4 * time.Second)
	var report string
	for {
		ok := true
		var b strings.Builder
		for p, want := range h {
			for _, hz := range tones {
				pow := p.s.RTP.Power(hz)
				must := contains(want, hz)
				good := (must && pow >= heard) || (!must && pow <= absent)
				if !good {
					ok = false
					verb := "must not hear"
					if must {
						verb = "must hear"
					}
					fmt.Fprintf(&b, "\n  %s %s %.0f Hz: %.1f dBFS", p.name, verb, hz, pow)
				}
			}
		}
		if ok {
			return
		}
		report = b.String()
		if time.Now().After(deadline) {
			sc.t.Fatalf("%s: hear-matrix not met:%s", step, report)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(xs []float64, x float64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// continuity checks that a party received one stream from earshot: one
// SSRC, sequence +1 and timestamp +160 from packet to packet, across every
// switch.
func continuity(t *testing.T, p party) {
	t.Helper()
	ssrcs, gaps := p.s.RTP.Continuity()
	if len(ssrcs) != 1 || gaps != 0 {
		t.Errorf("%s: received SSRCs %x with %d sequence gaps; want one SSRC, no gap", p.name, ssrcs, gaps)
	}
	// A hand-over (relay to mix and back, a mode switch) re-bases the
	// stream exactly one frame on: every step is +160.
	if steps := p.s.RTP.TimestampSteps(); len(steps) != 0 {
		t.Errorf("%s: timestamp steps other than +160 between consecutive packets: %v", p.name, steps)
	}
}
