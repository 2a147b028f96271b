package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
	"github.com/emiago/sipgo/sip"
)

// kamailio runs Debian's Kamailio on ip (a free UDP port) as a stateful
// record-routing proxy between a carrier on carrier and earshot, with
// testdata/kamailio/proxy.cfg, and stops it when the test ends. It returns
// Kamailio's address.
func kamailio(t *testing.T, ip, earshot, carrier string) string {
	t.Helper()
	eIP, ePort, _ := net.SplitHostPort(earshot)
	return startKamailio(t, "proxy.cfg", ip, func(addr, mods string) []any {
		return []any{addr, earshot, carrier, eIP, ePort, mods}
	})
}

// startKamailio runs Kamailio on ip (a free UDP port) with the
// configuration testdata/kamailio/name, filled in by args from its own
// address and the module path, as a process group stopped when the test
// ends. It returns Kamailio's address once it listens.
func startKamailio(t *testing.T, name, ip string, args func(addr, mods string) []any) string {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		t.Fatalf("kamailio is not installed (%v); `make deps` installs it", err)
	}
	mods, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tm.so")
	if len(mods) == 0 {
		mods, _ = filepath.Glob("/usr/lib/kamailio/modules/tm.so")
	}
	if len(mods) == 0 {
		t.Fatal("kamailio's modules (tm.so) not found")
	}
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	tmpl, err := os.ReadFile(filepath.Join("..", "testdata", "kamailio", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "kamailio.cfg")
	body := fmt.Sprintf(string(tmpl), args(addr, filepath.Dir(mods[0])+"/")...)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	cmd := exec.Command(bin, "-f", cfg, "-DD", "-E", "-m", "32", "-M", "8", "-Y", t.TempDir())
	cmd.Stderr, cmd.Stdout = &log, &log
	// Kamailio forks its worker processes: they are stopped with it, as a
	// process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", tailString(log.String(), 4000))
		}
	})
	// Kamailio is up when its port is taken.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			break
		}
		pc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not bind %s:\n%s", addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Behind Kamailio: a carrier call through a record-routing Kamailio is
// answered with audio both ways, carries its Session-ID to the agent, is
// listed with the carrier's SIP Call-ID, takes a hold/resume re-INVITE
// through the route set, and the agent's hang-up reaches the carrier
// through Kamailio; a CANCEL while ringing ends in 487.
func TestBehindKamailio(t *testing.T) {
	cfg := testConfig(t)
	carrier, err := phone.New(phone.Config{IP: "127.0.0.2", User: "carrier", Tone: toneCustomer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(carrier.Close)
	// The trunk is Kamailio's address: the carrier's calls arrive from it,
	// and in-dialog requests to the carrier follow the route set through
	// it.
	cfg.Tenants[0].Trunks[0].Sources = []string{"127.0.0.9/32"}
	e := start(t, cfg)
	kam := kamailio(t, "127.0.0.9", e.udp(), carrier.Addr())
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cust := e.phone(phone.Config{IP: "127.0.0.2", User: "5551234", Tone: toneCustomer, Server: kam})

	got := make(chan *sip.Request, 1)
	answered := make(chan *phone.Session, 1)
	go func() {
		in, err := agent.Next(ctx(t))
		if err != nil {
			close(got)
			return
		}
		got <- in.Req
		_ = in.Ring()
		s, _ := in.Answer()
		answered <- s
	}()
	const sid = "ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000"
	cs, err := cust.Call(ctx(t), "100", sip.NewHeader("Session-ID", sid))
	if err != nil {
		t.Fatalf("call through kamailio: %v", err)
	}
	inv := <-got
	as := <-answered
	if inv == nil || as == nil {
		t.Fatal("the agent did not get the call")
	}
	if h := inv.GetHeader("Session-ID"); h == nil || h.Value() != sid {
		t.Fatalf("Session-ID at the agent: %v", h)
	}
	expectHears(t, "carrier's customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	callerID, _, _ := cs.DialogIDs()
	calls := e.app.SIP.Calls()
	if len(calls) != 1 || calls[0].CallerCallID != callerID {
		t.Fatalf("call table %+v, want the carrier's Call-ID %s", calls, callerID)
	}
	for _, dir := range []string{"sendonly", "sendrecv"} {
		if code, err := cs.Reinvite(ctx(t), dir); err != nil || code != 200 {
			t.Fatalf("re-INVITE %s through kamailio: %d %v", dir, code, err)
		}
	}
	expectHears(t, "agent after resume", as, toneCustomer)
	if err := as.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "carrier (BYE through kamailio)", cs)
	waitActive(t, e, 0)

	// CANCEL while the agent rings.
	ringing := make(chan struct{})
	go func() {
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		_ = in.Ring()
		close(ringing)
		<-in.Canceled()
	}()
	callCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := cust.Call(callCtx, "100")
		done <- err
	}()
	<-ringing
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the canceled call succeeded")
	}
	// The CANCEL crossed Kamailio: earshot ended the call as canceled.
	deadline := time.Now().Add(5 * time.Second)
	for e.app.SIP.Stats().CallsByOutcome["canceled"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("outcomes %v, want one canceled call", e.app.SIP.Stats().CallsByOutcome)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitActive(t, e, 0)

	// Once more by hand, to see the tags: the 487 that reaches the
	// carrier through Kamailio carries the To tag of earshot's 180.
	go func() {
		if in, err := agent.Next(ctx(t)); err == nil {
			_ = in.Ring()
			<-in.Canceled()
		}
	}()
	u := newRawUA(t, kam)
	u.invite("100", "", sdpFrom("127.0.0.2", 40010))
	ringing180 := u.await("180 through Kamailio", 5*time.Second, func(m string) bool { return status(m) == 180 })
	u.send("CANCEL sip:100@" + u.server.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-raw1\r\n" +
		"From: <sip:5550000@127.0.0.2>;tag=raw\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: " + u.callID + "\r\n" +
		"CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	final := u.await("487 through Kamailio", 5*time.Second, func(m string) bool { return status(m) == 487 })
	if a, b := toTag(ringing180), toTag(final); a == "" || a != b {
		t.Fatalf("487 To tag %q, the 180's %q", b, a)
	}
	u.send("ACK sip:100@" + u.server.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-raw1\r\n" +
		"From: <sip:5550000@127.0.0.2>;tag=raw\r\nTo: " + header(final, "To") + "\r\nCall-ID: " + u.callID + "\r\n" +
		"CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	waitActive(t, e, 0)
}

// toTag is the tag parameter of a message's To header.
func toTag(m string) string {
	_, tag, _ := strings.Cut(header(m, "To"), ";tag=")
	tag, _, _ = strings.Cut(tag, ";")
	return tag
}
