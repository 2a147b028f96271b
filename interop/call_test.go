package interop

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// callBatch is a bounded batch of customer calls through earshot to a sipp
// agent phone.
type callBatch struct {
	calls      int // total calls
	concurrent int // calls in progress at once (sipp -l)
	packets    int // RTP packets the customer plays per call (20 ms each)
	talkMillis int // time between ACK and BYE
	agents     []string
	transport  string // sipp -t: u1 (UDP) or t1 (TCP)
}

// runCallBatch has sipp register the agents from 127.0.0.3, starts one sipp
// UAS on that address that echoes RTP, runs the customer UAC from the trunk address 127.0.0.2, and checks
// that every call succeeded on both sides and that RTP crossed earshot in
// both directions.
func runCallBatch(t *testing.T, e *earshot, b callBatch) {
	t.Helper()
	dir := t.TempDir()
	writePCMUPcap(t, filepath.Join(dir, "audio.pcap"), b.packets)
	uasPort := freePort(t, "127.0.0.3")
	uasAddr := addr("127.0.0.3", uasPort)
	registerAgents(t, e, "127.0.0.3", uasPort, b.agents, "demo")
	relayedBefore := e.metric(t, "earshot_rtp_packets_relayed_total")

	uas := startSipp(t, "uas", dir, "-sf", scenario(t, "agent_uas.xml"),
		"-i", "127.0.0.3", "-p", strconv.Itoa(uasPort), "-t", "u1",
		"-mi", "127.0.0.3", "-mp", strconv.Itoa(freePort(t, "127.0.0.3")), "-rtp_echo",
		"-m", strconv.Itoa(b.calls))
	waitBound(t, uasAddr, 10*time.Second)

	uac := startSipp(t, "uac", dir, "-sf", scenario(t, "customer_uac.xml"), "-s", "100",
		"-i", "127.0.0.2", "-p", strconv.Itoa(freePort(t, "127.0.0.2")), "-t", b.transport,
		"-mi", "127.0.0.2", "-mp", strconv.Itoa(freePort(t, "127.0.0.2")),
		"-d", strconv.Itoa(b.talkMillis), "-m", strconv.Itoa(b.calls),
		"-l", strconv.Itoa(b.concurrent), "-r", strconv.Itoa(2*b.concurrent), e.SIP)

	perCall := time.Duration(b.talkMillis)*time.Millisecond + time.Second
	budget := 20*time.Second + perCall*time.Duration((b.calls+b.concurrent-1)/b.concurrent)
	if code := uac.wait(t, budget); code != 0 {
		t.Errorf("customer sipp exited %d, want 0 (every call successful)\n%s", code, tail(uac.out.String(), 3000))
	}
	if code := uas.wait(t, 15*time.Second); code != 0 {
		t.Errorf("agent sipp exited %d, want 0 (every call successful)\n%s", code, tail(uas.out.String(), 3000))
	}
	for _, s := range []*sipp{uac, uas} {
		ok, failed := s.count(t, "SuccessfulCall(C)"), s.count(t, "FailedCall(C)")
		if ok != b.calls || failed != 0 {
			t.Errorf("sipp %s: %d successful and %d failed calls, want %d and 0", s.name, ok, failed, b.calls)
		}
	}

	// The agent only echoes what reached it, so the agent→customer direction
	// carries at most what customer→agent delivered, which is at most what
	// the customer sent. A total near twice the customer's packets therefore
	// means both directions relayed nearly everything.
	sent := float64(b.calls * b.packets)
	relayed := e.metric(t, "earshot_rtp_packets_relayed_total") - relayedBefore
	if relayed < 1.8*sent {
		t.Errorf("earshot relayed %.0f RTP packets for %.0f sent by the customers; want at least %.0f (both directions)",
			relayed, sent, 1.8*sent)
	}
	if got := e.metric(t, "earshot_calls_active"); got != 0 {
		t.Errorf("earshot_calls_active = %v after all calls ended, want 0", got)
	}
	t.Logf("%d calls (%s, %d at once): %.0f RTP packets relayed for %.0f sent", b.calls, b.transport, b.concurrent, relayed, sent)
}

// TestSippCallsUDP runs 20 short calls, three at a time, over UDP on both
// legs.
func TestSippCallsUDP(t *testing.T) {
	needTool(t, "sipp")
	agents := []string{"1001", "1002", "1003", "1004"}
	e := startEarshot(t, options{rtpMin: 30000, level: "warn", agents: agents, strategy: "longest-idle"})
	runCallBatch(t, e, callBatch{calls: 20, concurrent: 3, packets: 40, talkMillis: 1000, agents: agents, transport: "u1"})
}

// TestSippCallsTCP brings the customer in over TCP (one connection for all
// its calls) while the agent leg stays on UDP.
func TestSippCallsTCP(t *testing.T) {
	needTool(t, "sipp")
	agents := []string{"1001", "1002", "1003"}
	e := startEarshot(t, options{rtpMin: 31000, level: "warn", agents: agents, strategy: "longest-idle"})
	runCallBatch(t, e, callBatch{calls: 10, concurrent: 2, packets: 40, talkMillis: 1000, agents: agents, transport: "t1"})
}
