package e2e

import (
	"testing"
	"time"

	"github.com/earshot/earshot/config"
)

func TestMediaTimeoutHangsUpDeadCall(t *testing.T) {
	cfg := testConfig(t)
	cfg.Media.Timeout = config.Duration(2 * time.Second)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cs, as := answered(t, e, agent)
	cs.RTP.Mute(true)
	as.RTP.Mute(true)
	waitEnded(t, "customer", cs)
	waitEnded(t, "agent", as)
	// The BYEs leave before the call's end is counted.
	waitFor(t, "one media_timeout outcome", func() bool {
		return e.app.SIP.Stats().CallsByOutcome["media_timeout"] == 1
	})
}

func TestShutdownDrainsThenHangsUp(t *testing.T) {
	cfg := testConfig(t)
	cfg.SIP.DrainTimeout = config.Duration(time.Second)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	cs, as := answered(t, e, agent)
	done := make(chan error, 1)
	go func() { done <- e.app.Shutdown() }()
	// While draining, a new call is refused with 503.
	waitFor(t, "readyz to turn 503", func() bool {
		return get(t, "http://"+e.app.HTTPAddr+"/readyz") != "ready\n"
	})
	_, err := e.customer().Call(ctx(t), "100")
	if got := statusOf(err); got != 503 {
		t.Fatalf("call during drain: %v, want 503", err)
	}
	// The active call lives through the drain timeout, then gets BYE.
	waitEnded(t, "customer", cs)
	waitEnded(t, "agent", as)
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
