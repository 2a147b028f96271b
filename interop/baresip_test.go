package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// baresipConfig is a headless baresip: a sine tone as microphone (ausine
// only produces 48 kHz stereo; baresip resamples to the codec), an in-process
// bridge as loudspeaker, PCMU/PCMA only, everything bound to one loopback address.
const baresipConfig = `poll_method	epoll
net_interface	%[1]s
sip_listen	%[2]s
sip_trans_def	udp
audio_source	ausine,440
audio_player	aubridge,earshot-test
audio_alert	aubridge,earshot-test
ausrc_srate	48000
ausrc_channels	2
rtp_ports	%[3]d-%[4]d
module_path	%[5]s
module	g711.so
module	ausine.so
module	aubridge.so
module_app	account.so
module_app	menu.so
`

// baresipModules is where Debian installs baresip's modules.
const baresipModules = "/usr/lib/baresip/modules"

// TestBaresipAgent has a real baresip, agent 1001 on 127.0.0.1,
// auto-answer a customer call from the trunk and checks that audio crossed
// earshot both ways: baresip logs the customer's audio arriving, and
// earshot's relay counter holds more than the customer sent, the rest being
// baresip's tone.
//
// The test registers on baresip's behalf (see register): baresip 1.0 (its
// libre) fails the whole REGISTER with ENOSYS as soon as any challenge in
// the 401 names an algorithm other than MD5, whatever its position, and
// earshot offers SHA-256 beside MD5.
func TestBaresipAgent(t *testing.T) {
	runBaresipAgent(t, false)
}

// runBaresipAgent runs the baresip agent call; native makes baresip
// register itself with its account's password instead of the test
// registering its address for it.
func runBaresipAgent(t *testing.T, native bool) {
	bin := needTool(t, "baresip")
	needTool(t, "sipp")
	if _, err := os.Stat(filepath.Join(baresipModules, "ausine.so")); err != nil {
		t.Fatalf("baresip modules missing (%v); `make deps` installs them", err)
	}
	e := startEarshot(t, options{rtpMin: 32000, level: "warn", agents: []string{"1001"}, strategy: "ring-all"})
	out := startBaresip(t, bin, e, "1001", native, "")
	// Registered either way before the customer calls.
	waitMetric(t, e, "earshot_registrations", 1, 10*time.Second)

	const packets = 100 // 2 s of customer audio
	work := t.TempDir()
	writePCMUPcap(t, filepath.Join(work, "audio.pcap"), packets)
	relayedBefore := e.metric(t, "earshot_rtp_packets_relayed_total")
	uac := startSipp(t, "uac", work, "-sf", scenario(t, "customer_uac.xml"), "-s", "100",
		"-i", "127.0.0.2", "-p", strconv.Itoa(freePort(t, "127.0.0.2")), "-t", "u1",
		"-mi", "127.0.0.2", "-mp", strconv.Itoa(freePort(t, "127.0.0.2")),
		"-d", "3000", "-m", "1", e.SIP)
	if code := uac.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("customer sipp exited %d, want 0 (call answered and hung up cleanly)\n%s", code, tail(uac.out.String(), 3000))
	}

	// baresip notes the first RTP packet of the customer's audio that
	// reaches it; earshot's counter holds both directions, and the customer
	// sent only `packets`, so the rest is baresip's tone relayed back.
	log := out.String()
	for _, want := range []string{"Call established", "incoming rtp for 'audio' established"} {
		if !strings.Contains(log, want) {
			t.Errorf("baresip never logged %q", want)
		}
	}
	relayed := int(e.metric(t, "earshot_rtp_packets_relayed_total") - relayedBefore)
	t.Logf("earshot relayed %d RTP packets; the customer sent %d", relayed, packets)
	if back := relayed - packets; back < 100 {
		t.Errorf("earshot relayed at most %d packets from baresip to the customer, want at least 100 in a 3 s call", back)
	}
}

// startBaresip starts a headless baresip as user ext on 127.0.0.1,
// auto-answering, with extra lines appended to its config, and returns
// its output. native makes baresip register itself with its password
// instead of the test registering its address for it (see register).
func startBaresip(t *testing.T, bin string, e *earshot, ext string, native bool, extra string) *lockedBuffer {
	t.Helper()
	dir := t.TempDir()
	sipPort := baresipPort(t, "127.0.0.1")
	phone := addr("127.0.0.1", sipPort)
	regint := ";regint=0"
	if native {
		regint = ""
	} else {
		register(t, e.SIP, phone, ext, "demo")
	}
	cfg := fmt.Sprintf(baresipConfig, "127.0.0.1", phone, 32600, 32699, baresipModules) + extra
	account := fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=demo;answermode=auto%s;audio_codecs=PCMU/8000/1,PCMA/8000/1\n", ext, e.SIP, regint)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
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
			t.Logf("baresip output:\n%s", tail(out.String(), 6000))
		}
	})
	waitBound(t, phone, 10*time.Second)
	return out
}
