package app

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/earshot/earshot/config"
)

// TestMetricsToken: with http.metrics_token set, /metrics and the profiles
// want it as a bearer token; health and readiness stay open for probes.
func TestMetricsToken(t *testing.T) {
	cfg := config.Default()
	cfg.SIP.Listen = []config.Listener{{Transport: "udp", Address: "127.0.0.1:0"}}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.Pprof = true
	cfg.HTTP.MetricsToken = "ops-secret"
	cfg.DataDir = t.TempDir()
	cfg.Media.PortMin, cfg.Media.PortMax = 45100, 45199
	a, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	base := "http://" + a.HTTPAddr
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, p := range []string{"/metrics", "/debug/pprof/cmdline"} {
		if got := get(p, ""); got != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", p, got)
		}
		if got := get(p, "wrong"); got != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", p, got)
		}
		if got := get(p, "ops-secret"); got != http.StatusOK {
			t.Errorf("%s with the token: %d, want 200", p, got)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if got := get(p, ""); got != http.StatusOK {
			t.Errorf("%s: %d, want 200 without any token", p, got)
		}
	}
}

// TestMetricsDocumented: every earshot_ metric served is in docs/metrics.md.
func TestMetricsDocumented(t *testing.T) {
	served := servedMetrics(t)
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range served {
		if strings.HasPrefix(name, "earshot_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s is served but not in docs/metrics.md", name)
		}
	}
	for _, m := range []string{"earshot_queue_waiting", "earshot_agents", "earshot_queue_wait_seconds"} {
		if !served[m] {
			t.Errorf("%s not served", m)
		}
	}
}
