package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

// baresipModules is where Debian installs baresip's modules.
const baresipModules = "/usr/lib/baresip/modules"

// baresipSupervisorConfig is a headless baresip driven over ctrl_tcp, its
// console (cons) on TCP: a
// 440 Hz sine as microphone, an in-process bridge as loudspeaker, G.711
// only. Its RTP socket is bound to the wildcard address, so it sits on
// 127.0.0.1 (the address its packets leave from; see interop/doc.go).
const baresipSupervisorConfig = `poll_method	epoll
net_interface	127.0.0.1
sip_listen	%[1]s
sip_trans_def	udp
audio_source	ausine,440
audio_player	aubridge,earshot-help
audio_alert	aubridge,earshot-help
ausrc_srate	48000
ausrc_channels	2
rtp_ports	%[2]d-%[3]d
ctrl_tcp_listen	%[4]s
cons_listen	%[6]s
module_path	%[5]s
module	g711.so
module	ausine.so
module	aubridge.so
module_app	account.so
module_app	menu.so
module_app	ctrl_tcp.so
module	cons.so
`

// lockedBuffer collects a child's output for the test to read.
type lockedBuffer struct {
	mu sync.Mutex
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

// baresip is a running baresip and its command socket.
type baresip struct {
	out  *lockedBuffer
	ctrl string
}

// startBaresip runs baresip as ext (password demo) registered at earshot
// and returns once earshot has its registration. Without baresip the test
// fails: it is the same story as TestHelpByPhone with a real softphone,
// and CI installs baresip.
func startBaresip(t *testing.T, e *env, ext string) *baresip {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip is not installed; `make deps` installs it")
	}
	if _, err := os.Stat(filepath.Join(baresipModules, "ctrl_tcp.so")); err != nil {
		t.Fatalf("baresip modules missing (%v); `make deps` installs them", err)
	}
	dir := t.TempDir()
	sip := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLoopbackPort(t)))
	ctrl := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLoopbackPort(t)))
	// Apart from the e2e media ranges (10000–19999) and interop's
	// (30000–34999), which run at the same time.
	cons := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLoopbackPort(t)))
	cfg := fmt.Sprintf(baresipSupervisorConfig, sip, 35100, 35199, ctrl, baresipModules, cons)
	account := fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=demo;regint=600;audio_codecs=PCMU/8000/1,PCMA/8000/1\n", ext, e.udp())
	for name, text := range map[string]string{"config": cfg, "accounts": account} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "-f", dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("baresip output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !e.app.SIP.Registered("demo", ext) {
		if time.Now().After(deadline) {
			t.Fatalf("baresip did not register as %s", ext)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What baresip shows its user (a received MESSAGE among it) goes to
	// its console: a TCP client of the cons module.
	c, err := net.DialTimeout("tcp", cons, 5*time.Second)
	if err != nil {
		t.Fatalf("baresip console: %v", err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, c)
	}()
	t.Cleanup(func() {
		c.Close()
		<-copied
	})
	return &baresip{out: out, ctrl: ctrl}
}

// freeLoopbackPort is a port free for UDP and TCP on 127.0.0.1 (bound to
// port 0 and released).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free loopback port")
	return 0
}

// command sends one ctrl_tcp command (a JSON object in a netstring).
func (b *baresip) command(t *testing.T, cmd, params string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.ctrl, 5*time.Second)
	if err != nil {
		t.Fatalf("baresip ctrl_tcp: %v", err)
	}
	defer c.Close()
	body, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": "t"})
	if _, err := fmt.Fprintf(c, "%d:%s,", len(body), body); err != nil {
		t.Fatalf("baresip %s: %v", cmd, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("baresip %s: no answer: %v", cmd, err)
	}
}

// waitOutput waits until baresip has printed s.
func (b *baresip) waitOutput(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("baresip never printed %q", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHelpByPhoneBaresip is TestHelpByPhone with a real softphone as the
// supervisor: baresip receives the MESSAGE and prints it, dials *11001,
// and the request is in progress with 2001 as the helper; the customer
// and the agent do not hear the listening supervisor.
func TestHelpByPhoneBaresip(t *testing.T) {
	e := start(t, testConfig(t))
	sup := startBaresip(t, e, "2001")
	sc := newSupCall(t, e, callOpts{})

	if r := featureCall(t, sc.agentPhone, "*9"); !strings.Contains(r, "Help Requested") {
		t.Fatalf("*9 BYE Reason %q", r)
	}
	helpOf(t, e, "open")
	sup.waitOutput(t, "Dial *11001 to listen")

	sup.command(t, "dial", "*11001")
	sup.waitOutput(t, "Call established")
	sup.waitOutput(t, "incoming rtp for 'audio' established")
	if h := helpOf(t, e, "in_progress"); h["help_provided_by"] != "2001" {
		t.Fatalf("accepted by baresip dialling: %v", h)
	}
	expectMessage(t, "agent", sc.agentPhone, "Supervisor 2001 (Supervisor) is helping you")
	sc.expect("baresip listens", hearing{sc.cust: {sAgt}, sc.agent: {sCust}}, sCust, sAgt, 440)
	sup.command(t, "hangup", "")
	if testing.Verbose() {
		t.Logf("baresip output:\n%s", sup.out.String())
	}
}
