// Package demo is `earshot demo`: earshot on its embedded demo config plus
// three simulated parties — a customer calling 100 from the trunk address,
// agent 1001 and supervisor 2001 — walking through the supervision story
// over real SIP, RTP and REST on loopback. Each party sends its own tone;
// at every step the demo measures, from the audio each party decodes, who
// hears whom, and fails if that is not what the mode promises.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/app"
	"github.com/earshot/earshot/internal/phone"
)

// Tones (Hz) of the parties, chosen so that G.711 intermodulation of the
// mix never lands on another party's tone; level −18 dBFS.
const (
	toneCustomer   = 700.0
	toneAgent      = 950.0
	toneSupervisor = 1250.0
	level          = -18.0
	heard          = -35.0 // dBFS: a tone at or above is heard
	absent         = -50.0 // dBFS: a tone at or below is not
)

// Run performs the demo, printing to out. It returns an error if earshot
// could not be started or anything measured was wrong.
func Run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "earshot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	// Port 0: the demo runs next to a `make run` without clashing.
	cfg.SIP.Listen = []config.Listener{{Transport: "udp", Address: "127.0.0.1:0"}}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.SIP.DrainTimeout = config.Duration(time.Second)
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("start earshot: %w", err)
	}
	defer a.Shutdown()
	d := &run{ctx: ctx, out: out, app: a}
	fmt.Fprintf(out, "earshot is up: SIP %s, API http://%s/api/v1\n\n", a.SIPAddrs[0], a.HTTPAddr)
	if err := d.story(); err != nil {
		fmt.Fprintf(out, "\nFAILED: %v\n", err)
		return err
	}
	if d.wrong > 0 {
		fmt.Fprintf(out, "\nFAILED: %d measurement(s) did not match the hear-matrix\n", d.wrong)
		return fmt.Errorf("%d wrong measurements", d.wrong)
	}
	fmt.Fprintln(out, "\nEverything measured matched. (The demo's data directory is removed on exit.)")
	return nil
}

// party is a simulated phone and its current call.
type party struct {
	name string
	tone float64
	ph   *phone.Phone
	s    *phone.Session
}

type run struct {
	ctx   context.Context
	out   io.Writer
	app   *app.App
	wrong int

	cust, agent, sup *party
}

func (d *run) phone(name, ip, user string, tone float64) (*party, error) {
	pw := "demo"
	if user == "5551234" {
		pw = ""
	}
	p, err := phone.New(phone.Config{IP: ip, User: user, Name: name, Password: pw, Server: d.app.SIPAddrs[0],
		Tone: tone, Level: level})
	if err != nil {
		return nil, err
	}
	if pw != "" {
		if code, err := p.Register(d.ctx, 600); err != nil || code != 200 {
			p.Close()
			return nil, fmt.Errorf("register %s: %d %v", user, code, err)
		}
	}
	return &party{name: name, tone: tone, ph: p}, nil
}

func (d *run) step(format string, args ...any) {
	fmt.Fprintf(d.out, "▶ "+format+"\n", args...)
}

// check waits (up to 4 s) until each party hears exactly the parties
// listed for it, then prints the measured matrix; on timeout it prints
// what was measured and counts the step as wrong.
func (d *run) check(mode string, want map[*party][]*party) {
	all := []*party{d.cust, d.agent, d.sup}
	deadline := time.Now().Add(4 * time.Second)
	for {
		ok := true
		var b strings.Builder
		for _, p := range all {
			exp, listening := want[p]
			if !listening {
				continue
			}
			var hears []string
			for _, src := range all {
				if src == p {
					continue
				}
				pow := p.s.RTP.Power(src.tone)
				must := contains(exp, src)
				if pow >= heard {
					hears = append(hears, src.name)
				}
				if (must && pow < heard) || (!must && pow > absent) {
					ok = false
				}
			}
			if len(hears) == 0 {
				hears = []string{"nobody"}
			}
			fmt.Fprintf(&b, "    %-10s hears %s\n", p.name, strings.Join(hears, " + "))
		}
		if ok || time.Now().After(deadline) {
			verdict := "as promised"
			if !ok {
				verdict = "WRONG"
				d.wrong++
			}
			fmt.Fprintf(d.out, "  measured (%s: %s):\n%s", mode, verdict, b.String())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(xs []*party, x *party) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// phoneSession is the test phone's call.
type phoneSession = phone.Session
