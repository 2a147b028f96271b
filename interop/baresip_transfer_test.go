package interop

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBaresipBlindTransfer: baresip, agent 1001, answers a customer from
// the trunk and is told (through its ctrl_tcp command interface, as its
// user would type /transfer 1002) to transfer the call to 1002, a sipp
// phone. baresip sends REFER and hangs up on earshot's NOTIFY; earshot
// keeps the customer, rings 1002, and hands the customer over: the
// customer's call goes on to its own BYE (sipp exits 0 only if earshot
// answers it), 1002 gets the call and the customer's BYE, and audio
// flows between the customer and 1002 after baresip left.
func TestBaresipBlindTransfer(t *testing.T) {
	bin := needTool(t, "baresip")
	needTool(t, "sipp")
	e := startEarshot(t, options{rtpMin: 34000, level: "warn", agents: []string{"1001"}, strategy: "ring-all"})
	ctrl := addr("127.0.0.1", freePort(t, "127.0.0.1"))
	out := startBaresip(t, bin, e, "1001", false, "module_app\tctrl_tcp.so\nctrl_tcp_listen\t"+ctrl+"\n")
	waitListening(t, ctrl, 10*time.Second)

	dir := t.TempDir()
	uasPort := freePort(t, "127.0.0.3")
	registerAgents(t, e, "127.0.0.3", uasPort, []string{"1002"}, "demo")
	uas := startSipp(t, "uas", dir, "-sf", scenario(t, "agent_uas.xml"),
		"-i", "127.0.0.3", "-p", strconv.Itoa(uasPort), "-t", "u1",
		"-mi", "127.0.0.3", "-mp", strconv.Itoa(freePort(t, "127.0.0.3")), "-rtp_echo", "-m", "1")
	waitBound(t, addr("127.0.0.3", uasPort), 10*time.Second)
	waitMetric(t, e, "earshot_registrations", 2, 10*time.Second)

	const packets = 400 // 8 s of customer audio
	work := t.TempDir()
	writePCMUPcap(t, filepath.Join(work, "audio.pcap"), packets)
	uac := startSipp(t, "uac", work, "-sf", scenario(t, "customer_uac.xml"), "-s", "100",
		"-i", "127.0.0.2", "-p", strconv.Itoa(freePort(t, "127.0.0.2")), "-t", "u1",
		"-mi", "127.0.0.2", "-mp", strconv.Itoa(freePort(t, "127.0.0.2")),
		"-d", "8000", "-m", "1", e.SIP)

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Call established") {
		if time.Now().After(deadline) {
			t.Fatal("baresip never answered the customer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // the agent talks before transferring
	baresipCommand(t, ctrl, "transfer", "1002")

	// 1002 is the call's agent once it answered; baresip is gone.
	var agents string
	deadline = time.Now().Add(5 * time.Second)
	for agents != "1002" {
		if time.Now().After(deadline) {
			t.Fatalf("call's agents %q after the transfer, want 1002", agents)
		}
		time.Sleep(50 * time.Millisecond)
		var list struct {
			Calls []struct {
				Agents []string `json:"agents"`
			} `json:"calls"`
		}
		apiGet(t, e, "/calls", &list)
		if len(list.Calls) == 1 {
			agents = strings.Join(list.Calls[0].Agents, ",")
		}
	}
	relayed := e.metric(t, "earshot_rtp_packets_relayed_total")
	for _, want := range []string{"transferring call to sip:1002@", "terminated (duration"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("baresip never logged %q", want)
		}
	}
	if code := uac.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("customer sipp exited %d, want 0 (the call went on to its own BYE)\n%s", code, tail(uac.out.String(), 3000))
	}
	if code := uas.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("1002's sipp exited %d, want 0 (it got the call and the customer's BYE)\n%s", code, tail(uas.out.String(), 3000))
	}
	// After the hand-over the customer's audio reaches 1002 and comes
	// back (sipp echoes it): at least a second's worth each way.
	if after := e.metric(t, "earshot_rtp_packets_relayed_total") - relayed; after < 100 {
		t.Errorf("earshot relayed %.0f packets after the transfer, want the customer↔1002 audio (≥ 100)", after)
	}
}

// baresipCommand sends one command to baresip's ctrl_tcp module (a
// netstring-framed JSON object) and fails the test unless it reports
// success.
func baresipCommand(t *testing.T, ctrl, command, params string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", ctrl, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "t1"})
	if _, err := fmt.Fprintf(conn, "%d:%s,", len(msg), msg); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("baresip %s: no reply: %v", command, err)
	}
	reply := string(buf[:n])
	if _, js, ok := strings.Cut(reply, ":"); ok {
		var r struct {
			OK   bool   `json:"ok"`
			Data string `json:"data"`
		}
		if json.Unmarshal([]byte(strings.TrimSuffix(js, ",")), &r) == nil && !r.OK {
			t.Fatalf("baresip %s %s failed: %s", command, params, r.Data)
		}
	}
	_ = os.Stdout.Sync()
}

// waitListening waits until something accepts TCP connections on addr.
func waitListening(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s within %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
