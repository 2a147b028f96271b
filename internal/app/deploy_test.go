package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"gopkg.in/yaml.v3"
)

// servedMetrics starts earshot and returns the names of the earshot_
// metric families its /metrics serves.
func servedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	cfg := config.Default()
	cfg.SIP.Listen = []config.Listener{{Transport: "udp", Address: "127.0.0.1:0"}}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Media.PortMin, cfg.Media.PortMax = 45400, 45499
	a, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	// One OPTIONS, so that the request and response counters, which have
	// a series per method and code seen, have one.
	conn, err := net.Dial("udp", a.SIPAddrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() +
		";branch=z9hG4bK-deploytest\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n" +
		"Call-ID: deploytest\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))
	buf := make([]byte, 2048)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(buf); err != nil {
		t.Fatalf("no answer to OPTIONS: %v", err)
	}
	// The response is counted once its write returns, which may be
	// after the probe has read it: wait for the count.
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); ; {
		res, err := http.Get("http://" + a.HTTPAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(body), "# TYPE earshot_sip_responses_sent_total ") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			served[name] = true
		}
	}
	return served
}

var metricName = regexp.MustCompile(`earshot_[a-z0-9_]+`)

// family is the metric family a series name in an expression belongs to
// (a histogram's _bucket, _sum and _count series are its family's).
func family(served map[string]bool, name string) bool {
	if served[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && served[base] {
			return true
		}
	}
	return false
}

// The Grafana dashboard queries only metrics earshot serves, so it never
// rots, and covers the areas operators watch.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	served := servedMetrics(t)
	raw, err := os.ReadFile("../../deploy/grafana/earshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q queries no earshot metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !family(served, n) {
					t.Errorf("panel %q queries %s, which earshot does not serve", p.Title, n)
				}
			}
		}
	}
	for _, want := range []string{"earshot_calls_active", "earshot_call_setup_seconds_bucket", "earshot_sip_responses_sent_total",
		"earshot_registrations", "earshot_rtp_dropped_total", "earshot_mixer_tick_lateness_seconds_bucket",
		"earshot_jitter_buffer_delay_seconds_bucket", "earshot_supervisions_active", "earshot_help_requests_active",
		"earshot_queue_waiting", "earshot_queue_wait_seconds_bucket", "earshot_queue_left_total", "earshot_agents",
		"earshot_api_request_duration_seconds_bucket"} {
		if !used[want] {
			t.Errorf("the dashboard has no panel for %s", want)
		}
	}
	if dash.UID == "" {
		t.Error("the dashboard has no uid (provisioning needs one)")
	}
}

// The alerting rules are well formed, each with a severity and a summary,
// and query only metrics earshot serves; promtool checks them too where
// it is installed.
func TestAlertRules(t *testing.T) {
	served := servedMetrics(t)
	path := "../../deploy/prometheus/earshot-rules.yml"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v lacks alert, expr, severity or summary", r)
			}
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !family(served, m) {
					t.Errorf("rule %s queries %s, which earshot does not serve", r.Alert, m)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("only %d rules", n)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	}
}

// The systemd unit passes systemd-analyze verify (with the binary where
// the unit expects it, here a fresh build) and keeps its hardening.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is not installed (%v); `make deps` installs systemd", err)
	}
	raw, err := os.ReadFile("../../deploy/systemd/earshot.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=earshot", "ProtectSystem=strict", "ReadWritePaths=/var/lib/earshot",
		"Restart=on-failure", "LimitNOFILE=65536", "NoNewPrivileges=yes", "CapabilityBoundingSet="} {
		if !strings.Contains(string(raw), "\n"+want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "earshot")
	build := exec.Command("go", "build", "-o", bin, "./cmd/earshot")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit := filepath.Join(dir, "earshot.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/earshot", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The container recipe builds a static binary in a build stage and runs it
// as a non-root user on a minimal base with the data directory a volume.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user, volume, cgo bool
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			user = f[1] != "root" && f[1] != "0"
		case "VOLUME":
			volume = strings.Contains(line, "/data")
		case "RUN":
			cgo = cgo || strings.Contains(line, "CGO_ENABLED=0")
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:") || !strings.Contains(froms[1], "distroless/static") {
		t.Errorf("stages %v: want a golang build stage and a distroless static base", froms)
	}
	if !user || !volume || !cgo {
		t.Errorf("non-root user %v, /data volume %v, static build %v", user, volume, cgo)
	}
}
