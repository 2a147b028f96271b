package app

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/earshot/earshot/config"
)

// startApp runs earshot from the embedded default config on loopback port-0
// listeners with pprof set as given.
func startApp(t *testing.T, pprofOn bool) *App {
	t.Helper()
	cfg := config.Default()
	cfg.SIP.Listen = []config.Listener{{Transport: "udp", Address: "127.0.0.1:0"}}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.Pprof = pprofOn
	cfg.DataDir = t.TempDir()
	// Apart from the ranges the e2e (10000+), rtpengine (20000+) and
	// interop (30000+) tests use; no call is made, so none is opened.
	cfg.Media.PortMin, cfg.Media.PortMax = 45000, 45099
	a, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	return a
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestPprofOptIn: profiles are served only when http.pprof is set, and
// never displace /metrics on the shared listener.
func TestPprofOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("pprof=", on), func(t *testing.T) { checkPprof(t, on) })
	}
}

func checkPprof(t *testing.T, on bool) {
	a := startApp(t, on)
	base := "http://" + a.HTTPAddr
	want := http.StatusNotFound
	if on {
		want = http.StatusOK
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		if got := status(t, base+p); got != want {
			t.Errorf("GET %s = %d, want %d", p, got, want)
		}
	}
	if got := status(t, base+"/metrics"); got != http.StatusOK {
		t.Errorf("GET /metrics = %d", got)
	}
}
