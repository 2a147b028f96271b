package e2e

import (
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// TestKernelRelayedCall runs a call as an operator's default configuration
// does (media.kernel_relay: auto): where earshot may load BPF programs
// (root) its relayed audio goes through the kernel once it has settled —
// both parties hear each other, the kernel's counters grow in /metrics —
// a supervisor who listens takes it back to userspace (the mixer) and the
// kernel has it again once the supervisor left, each party's stream one
// continuous stream throughout. Elsewhere the same call runs on the
// userspace relay with the same assertions on what is heard.
func TestKernelRelayedCall(t *testing.T) {
	e := start(t, testConfig(t))
	st := e.app.Media.Stats()
	inKernel := st.Kernel.Enabled
	if !inKernel {
		t.Logf("in-kernel relay unavailable here (%s): the call runs on the userspace relay", st.Kernel.Unavailable)
	}
	metrics := func() string { return get(t, "http://"+e.app.HTTPAddr+"/metrics") }
	if v := metricValue(metrics(), "earshot_rtp_kernel_relay_enabled"); (v == 1) != inKernel {
		t.Fatalf("earshot_rtp_kernel_relay_enabled %v, engine says %v", v, inKernel)
	}
	streams := func(n float64) {
		t.Helper()
		if inKernel {
			waitFor(t, "kernel streams", func() bool { return metricValue(metrics(), "earshot_rtp_kernel_streams") == n })
		}
	}

	sc := newSupCall(t, e, callOpts{})
	streams(2)
	before := metricValue(metrics(), "earshot_rtp_kernel_packets_total")
	// expect looks at the last 400 ms of audio: all of it after the
	// hand-over.
	time.Sleep(600 * time.Millisecond)
	sc.expect("relayed in the kernel", hearing{sc.cust: {sAgt}, sc.agent: {sCust}}, sCust, sAgt)
	if after := metricValue(metrics(), "earshot_rtp_kernel_packets_total"); inKernel && after < before+40 {
		t.Errorf("kernel packets %v → %v while both parties heard each other: the kernel did not carry the call", before, after)
	}

	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)
	ss, code := dial(t, sp, "*11001")
	if code != 200 {
		t.Fatalf("*11001 answered %d", code)
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	if v := metricValue(metrics(), "earshot_rtp_kernel_streams"); v != 0 {
		t.Errorf("%v streams in the kernel while a supervisor listens", v)
	}
	sc.expect("listen", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, sup: {sCust, sAgt}}, all...)
	if err := ss.Hangup(ctx(t)); err != nil {
		t.Fatalf("supervisor bye: %v", err)
	}
	streams(2)
	time.Sleep(600 * time.Millisecond)
	sc.expect("in the kernel again", hearing{sc.cust: {sAgt}, sc.agent: {sCust}}, all...)
	time.Sleep(200 * time.Millisecond)
	continuity(t, sc.cust)
	continuity(t, sc.agent)
	if inKernel {
		body := metrics()
		if v := metricValue(body, `earshot_rtp_kernel_handovers_total{to="kernel"}`); v < 4 {
			t.Errorf("hand-overs to the kernel: %v, want at least 4 (two streams, twice)", v)
		}
		if v := metricValue(body, `earshot_rtp_kernel_handovers_total{to="userspace"}`); v < 2 {
			t.Errorf("hand-overs back to userspace: %v, want at least 2", v)
		}
	}
}
