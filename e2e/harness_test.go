package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/app"
	"github.com/earshot/earshot/internal/phone"
)

// Tones of the parties; far apart so each is measured alone.
const (
	toneCustomer = 700.0
	toneAgent    = 1100.0
	toneOther    = 1500.0
)

// Thresholds of the audio verdicts (dBFS); a tone is sent at about -10.
const (
	heard  = -35.0
	absent = -50.0
)

var portBase atomic.Int32

// testConfig is the embedded demo config on port 0 listeners, with its own
// media port range and data directory.
func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.SIP.Listen = []config.Listener{{Transport: "udp", Address: "127.0.0.1:0"}, {Transport: "tcp", Address: "127.0.0.1:0"}}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	// Below the kernel's ephemeral range (so port-0 sockets never collide)
	// and apart from the ranges other test packages use (rtpengine 20000+,
	// interop 30000+), since packages run in parallel.
	n := int(portBase.Add(1))
	cfg.Media.PortMin = 10000 + (n%25)*400
	cfg.Media.PortMax = cfg.Media.PortMin + 399
	return cfg
}

type env struct {
	t   *testing.T
	app *app.App
	cfg *config.Config
}

func start(t *testing.T, cfg *config.Config) *env {
	t.Helper()
	return startLogging(t, cfg, io.Discard)
}

// startLogging is start with earshot's log also written to w (at Info
// and above), for tests that read it.
func startLogging(t *testing.T, cfg *config.Config, w io.Writer) *env {
	t.Helper()
	level := slog.LevelInfo
	if os.Getenv("EARSHOT_TEST_LOG") != "" {
		w = io.MultiWriter(w, os.Stderr)
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	a, err := app.Start(cfg, log)
	if err != nil {
		t.Fatalf("start earshot: %v", err)
	}
	t.Cleanup(func() {
		// Every call over means every dialog forgotten: a leg left in
		// the table is a leak that in-dialog requests would still find.
		if st := a.SIP.Stats(); st.ActiveCalls == 0 && st.Dialogs != 0 {
			t.Errorf("no call left but %d dialogs in the table", st.Dialogs)
		}
		_ = a.Shutdown()
	})
	return &env{t: t, app: a, cfg: cfg}
}

// udp is earshot's UDP SIP address; tcp its TCP one.
func (e *env) udp() string { return e.app.SIPAddrs[0] }
func (e *env) tcp() string { return e.app.SIPAddrs[1] }

func (e *env) phone(cfg phone.Config) *phone.Phone {
	e.t.Helper()
	if cfg.Server == "" {
		cfg.Server = e.udp()
		if cfg.TCP {
			cfg.Server = e.tcp()
		}
	}
	p, err := phone.New(cfg)
	if err != nil {
		e.t.Fatalf("phone %s: %v", cfg.User, err)
	}
	e.t.Cleanup(p.Close)
	return p
}

// customer is a caller on the trunk's source address.
func (e *env) customer() *phone.Phone {
	return e.phone(phone.Config{IP: "127.0.0.2", User: "5551234", Name: "Customer", Tone: toneCustomer})
}

// agent registers extension ext from ip.
func (e *env) agent(ext, ip string, tone float64) *phone.Phone {
	e.t.Helper()
	p := e.phone(phone.Config{IP: ip, User: ext, Password: "demo", Tone: tone})
	code, err := p.Register(ctx(e.t), 600)
	if err != nil || code != 200 {
		e.t.Fatalf("register %s: code %d err %v", ext, code, err)
	}
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// answerNext makes p answer its next incoming call.
func answerNext(t *testing.T, p *phone.Phone) <-chan *phone.Session {
	ch := make(chan *phone.Session, 1)
	go func() {
		in, err := p.Next(ctx(t))
		if err != nil {
			close(ch)
			return
		}
		_ = in.Ring()
		s, err := in.Answer()
		if err != nil {
			close(ch)
			return
		}
		ch <- s
	}()
	return ch
}

// expectAudio waits until s hears the tone hz at or above heard, or
// fails. Polling the decoded audio is the observation itself, not a sleep.
func expectHears(t *testing.T, who string, s *phone.Session, hz float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	var p float64
	for time.Now().Before(deadline) {
		if p = s.RTP.Power(hz); p >= heard {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not hear %.0f Hz: %.1f dBFS (want >= %.0f)", who, hz, p, heard)
}

// expectSilent checks that s heard no hz over the last 400 ms.
func expectSilent(t *testing.T, who string, s *phone.Session, hz float64) {
	t.Helper()
	if p := s.RTP.Power(hz); p > absent {
		t.Fatalf("%s hears %.0f Hz at %.1f dBFS (want <= %.0f)", who, hz, p, absent)
	}
}

func waitEnded(t *testing.T, who string, s *phone.Session) {
	t.Helper()
	select {
	case <-s.Ended():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: call did not end", who)
	}
}
