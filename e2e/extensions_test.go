package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
)

// rawCall sends a hand-written INVITE (with extra headers) from the trunk
// address and returns every response until the final one.
func rawCall(t *testing.T, server, extra string, onProvisional func(code int)) []string {
	t.Helper()
	return rawResponses(t, server, extra, sdpFrom("127.0.0.2", 40000), onProvisional)
}

// rawResponses sends an INVITE to 100 through a rawUA and collects the
// responses until the final one.
func rawResponses(t *testing.T, server, extra, sdp string, onProvisional func(code int)) []string {
	t.Helper()
	u := newRawUA(t, server)
	u.invite("100", extra, sdp)
	var out []string
	for {
		r := u.next(5 * time.Second)
		if r == "" {
			t.Fatalf("no final response (got %d responses)", len(out))
		}
		code := status(r)
		if code == 0 {
			continue
		}
		out = append(out, r)
		if code >= 200 {
			return out
		}
		if onProvisional != nil {
			onProvisional(code)
		}
	}
}

func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestReliableProvisionalAndSessionTimer(t *testing.T) {
	cfg := testConfig(t)
	cfg.SIP.DrainTimeout = config.Duration(time.Second)
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	// The agent rings until the caller has seen the 180, then answers.
	rang := make(chan struct{})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		_ = in.Ring()
		select {
		case <-rang:
		case <-time.After(5 * time.Second):
		}
		_, _ = in.Answer()
	}()
	var once sync.Once
	res := rawCall(t, e.udp(), "Require: 100rel\r\nSupported: timer, 100rel\r\nSession-Expires: 120\r\n",
		func(code int) {
			if code == 180 {
				once.Do(func() { close(rang) })
			}
		})
	<-answered
	var ringing, final string
	for _, r := range res {
		switch {
		case strings.HasPrefix(r, "SIP/2.0 180"):
			ringing = r
		case strings.HasPrefix(r, "SIP/2.0 200"):
			final = r
		}
	}
	if ringing == "" || final == "" {
		t.Fatalf("want 180 and 200, got %d responses: %q", len(res), res)
	}
	if !strings.Contains(header(ringing, "Require"), "100rel") || header(ringing, "RSeq") == "" {
		t.Errorf("180 to a caller requiring 100rel is not reliable: %q", ringing)
	}
	if got := header(final, "Session-Expires"); got != "120;refresher=uac" {
		t.Errorf("Session-Expires in 200 = %q, want 120;refresher=uac", got)
	}
	if !strings.Contains(header(final, "Require"), "timer") {
		t.Errorf("200 lacks Require: timer: %q", final)
	}
}

func TestUnsupportedExtensionGives420AndSmallSessionInterval422(t *testing.T) {
	e := start(t, testConfig(t))
	res := rawCall(t, e.udp(), "Require: foo\r\n", nil)
	last := res[len(res)-1]
	if !strings.HasPrefix(last, "SIP/2.0 420") || header(last, "Unsupported") != "foo" {
		t.Errorf("Require: foo answered %q", last)
	}
	res = rawCall(t, e.udp(), "Session-Expires: 30\r\n", nil)
	last = res[len(res)-1]
	if !strings.HasPrefix(last, "SIP/2.0 422") || header(last, "Min-SE") != "90" {
		t.Errorf("Session-Expires: 30 answered %q", last)
	}
}
