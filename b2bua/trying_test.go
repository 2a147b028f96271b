package b2bua

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"
)

// TestOneTryingWhenLate: a caller whose INVITE earshot takes longer than
// 200 ms to take up (a loaded machine; here every clock reading of the
// server sleeps 300 ms) gets one 100 Trying, earshot's, not sipgo's own
// first and earshot's after it: sipp aborts a call on the second.
func TestOneTryingWhenLate(t *testing.T) {
	var slow atomic.Bool
	_, h := agentHarnessWith(t, Config{Tenants: flowTenants(RingAll, 0), Registration: testPolicy,
		Now: func() time.Time {
			if slow.Load() {
				time.Sleep(300 * time.Millisecond)
			}
			return time.Now()
		},
		// So slow a server is behind on its input, and would refuse the
		// call (overload_test.go); this test wants it taken, late.
		Overload: Overload{Disabled: true}})
	const n = 24
	h.readDeadline(10 * time.Second)
	slow.Store(true)
	h.invite(n)
	h.send(h.caller, h.srv)
	// earshot rings the agent after its 100 went to the caller.
	h.recv(h.agent, "INVITE ")
	slow.Store(false)

	tries := 0
	_ = h.caller.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	for {
		k, _, err := h.caller.ReadFromUDPAddrPort(h.in)
		if err != nil {
			break
		}
		if bytes.HasPrefix(h.in[:k], []byte("SIP/2.0 100 ")) {
			tries++
		}
	}
	if tries != 1 {
		t.Fatalf("the caller got %d 100 Trying, want 1", tries)
	}
}
