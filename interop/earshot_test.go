package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// earshot is one running earshot process.
type earshot struct {
	SIP  string // bound SIP address, UDP and TCP on the same port
	HTTP string // bound HTTP address
	log  *lockedBuffer
}

// lockedBuffer collects a child's output; the child writes from os/exec's
// copying goroutine while the test reads it on failure.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// configTemplate is the demo tenant with the listeners, RTP range and data
// directory a test chooses. Ports come from freePort because the config
// validation wants a real port number for listeners.
const configTemplate = `log:
  format: text
  level: %s
sip:
  listen:
    - transport: udp
      address: %s
    - transport: tcp
      address: %s
  max_calls: 5000
http:
  listen: %s
data_dir: %s
media:
  address: 127.0.0.1
  port_min: %d
  port_max: %d
  timeout: 20s
tenants:
  - name: demo
    domains: []
    trunks:
      - name: carrier
        sources: [127.0.0.2/32]
        outbound: 127.0.0.2:5080
        transport: udp
    groups:
      - name: support
        numbers:
          - number: "100"
            label: Support line
        agents: [%s]
        supervisors: ["2001"]
        strategy: %s
        ring_timeout: 10s
        sla_threshold: %s
%s    users:
      - {extension: "1001", name: Agent One, role: agent, password: demo, token: demo-1001}
      - {extension: "1002", name: Agent Two, role: agent, password: demo, token: demo-1002}
      - {extension: "1003", name: Agent Three, role: agent, password: demo, token: demo-1003}
      - {extension: "1004", name: Agent Four, role: agent, password: demo, token: demo-1004}
      - {extension: "1005", name: Agent Five, role: agent, password: demo, token: demo-1005}
      - {extension: "1006", name: Agent Six, role: agent, password: demo, token: demo-1006}
      - {extension: "1007", name: Agent Seven, role: agent, password: demo, token: demo-1007}
      - {extension: "1008", name: Agent Eight, role: agent, password: demo, token: demo-1008}
      - {extension: "1009", name: Agent Nine, role: agent, password: demo, token: demo-1009}
      - {extension: "1010", name: Agent Ten, role: agent, password: demo, token: demo-1010}
      - {extension: "2001", name: Supervisor, role: supervisor, password: demo, token: demo-2001}
      - {extension: "9000", name: Admin, role: admin, password: demo, token: demo-9000}
`

// needTool fails the test when a peer program is missing: these tests are
// the proof that earshot talks to real phones, so they never skip.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (%v); `make deps` installs the SIP peers the interop tests need", name, err)
	}
	return p
}

// buildEarshot compiles ./cmd/earshot into a test temp dir. The Go build
// cache makes repeated builds cheap.
func buildEarshot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "earshot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/earshot")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/earshot: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a port free for both UDP and TCP on ip, found by binding
// port 0 and releasing it.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatalf("no port free for UDP and TCP on %s", ip)
	return 0
}

// baresipPort returns a SIP port for baresip on ip: free for UDP and TCP,
// with the port after it free for TCP, where baresip binds its TLS
// transport. It is drawn from 10000-19999, below the kernel's ephemeral
// range (32768 and up) and the media tests' 20000-29999, so no outgoing
// connection or other test takes either port between the check and
// baresip's bind.
func baresipPort(t *testing.T, ip string) int {
	t.Helper()
	for range 200 {
		port := 10000 + rand.IntN(9999)
		var held []io.Closer
		free := true
		for _, try := range []struct {
			network string
			port    int
		}{{"udp", port}, {"tcp", port}, {"tcp", port + 1}} {
			hostPort := net.JoinHostPort(ip, strconv.Itoa(try.port))
			var c io.Closer
			var err error
			if try.network == "udp" {
				c, err = net.ListenPacket("udp", hostPort)
			} else {
				c, err = net.Listen("tcp", hostPort)
			}
			if err != nil {
				free = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port for baresip on %s", ip)
	return 0
}

// options shape one earshot instance.
type options struct {
	rtpMin   int      // the test's RTP range is rtpMin..rtpMin+999
	level    string   // log level
	agents   []string // the support group's agents, in order
	strategy string   // ring-all or longest-idle
	sla      string   // the group's sla_threshold; empty: 20s
	queue    string   // YAML lines of the group's queue block, indented under it; empty: defaults
}

// startEarshot writes a config, starts earshot and waits for the banner that
// names the bound addresses.
func startEarshot(t *testing.T, o options) *earshot {
	t.Helper()
	bin := buildEarshot(t)
	dir := t.TempDir()
	sip := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "127.0.0.1")))
	web := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "127.0.0.1")))
	cfg := filepath.Join(dir, "earshot.yaml")
	agents := `"` + strings.Join(o.agents, `", "`) + `"`
	if o.sla == "" {
		o.sla = "20s"
	}
	body := fmt.Sprintf(configTemplate, o.level, sip, sip, web, filepath.Join(dir, "data"),
		o.rtpMin, o.rtpMin+999, agents, o.strategy, o.sla, o.queue)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &earshot{log: &lockedBuffer{}}
	cmd := exec.Command(bin, "serve", "-config", cfg)
	cmd.Stderr = e.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	banner := make(chan struct{})
	go func() {
		readBanner(e, stdout, banner)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil && !t.Failed() {
				t.Errorf("earshot exited with %v after SIGTERM\n%s", err, e.log)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("earshot did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("earshot log (last 8 KiB):\n%s", tail(e.log.String(), 8192))
		}
	})
	select {
	case <-banner:
	case err := <-exited:
		t.Fatalf("earshot exited before its banner: %v\n%s", err, e.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("no earshot banner within 20s\n%s", e.log)
	}
	if e.SIP != sip || e.HTTP != web {
		t.Fatalf("banner says SIP %s HTTP %s; config asked for %s and %s", e.SIP, e.HTTP, sip, web)
	}
	return e
}

// readBanner takes the bound addresses from lines such as
// "  SIP UDP  127.0.0.1:5060" and "  HTTP     http://127.0.0.1:8080/metrics",
// closes ready once both are known, and drains the rest of stdout.
func readBanner(e *earshot, r io.Reader, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	var sip, web string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "SIP" && f[1] == "UDP":
			sip = f[2]
		case len(f) == 2 && f[0] == "HTTP":
			web = strings.TrimSuffix(strings.TrimPrefix(f[1], "http://"), "/metrics")
		}
		if ready != nil && sip != "" && web != "" {
			e.SIP, e.HTTP = sip, web
			close(ready)
			ready = nil
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// metric reads a counter or gauge from /metrics: the sum of its series
// when it is labelled (earshot_rtp_packets_relayed_total{direction=...}).
func (e *earshot) metric(t *testing.T, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.HTTP+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sum, found := 0.0, false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			sum, found = sum+v, true
		}
	}
	if !found {
		t.Fatalf("metric %s not exported", name)
	}
	return sum
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// waitMetric polls /metrics until name reaches want or timeout passes;
// the scrape is the observation, the tick only paces it.
func waitMetric(t *testing.T, e *earshot, name string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := e.metric(t, name)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %v, want %v", name, got, timeout, want)
		}
		<-tick.C
	}
}
