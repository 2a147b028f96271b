package e2e

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// Correlation: the caller's RFC 7989 Session-ID reaches the agent
// unchanged (one is made when the caller sent none), and the call API
// lists the Session-ID and both legs' SIP Call-IDs, as the agent and the
// caller saw them.
func TestSessionIDAndCallIDs(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	for _, sent := range []string{"ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000", ""} {
		got := make(chan *sip.Request, 1)
		go func() {
			in, err := agent.Next(ctx(t))
			if err != nil {
				close(got)
				return
			}
			got <- in.Req
			_, _ = in.Answer()
		}()
		var hdrs []sip.Header
		if sent != "" {
			hdrs = append(hdrs, sip.NewHeader("Session-ID", sent))
		}
		cs, err := e.customer().Call(ctx(t), "100", hdrs...)
		if err != nil {
			t.Fatal(err)
		}
		inv := <-got
		if inv == nil {
			t.Fatal("the agent got no INVITE")
		}
		h := inv.GetHeader("Session-ID")
		if h == nil || (sent != "" && h.Value() != sent) || (sent == "" && len(strings.Split(h.Value(), ";")[0]) != 32) {
			t.Fatalf("Session-ID at the agent: %v (caller sent %q)", h, sent)
		}
		calls := answeredCalls(t, e, 1) // the callee's Call-ID is the answered one's
		callerID, _, _ := cs.DialogIDs()
		code, body := api(t, e, "demo-2001", "GET", "/calls/"+calls[0].ID, nil)
		if code != 200 || body["session_id"] != h.Value() || body["caller_sip_call_id"] != callerID ||
			body["callee_sip_call_id"] != inv.CallID().Value() {
			t.Fatalf("GET /calls/{id}: %d %v; want session %q, caller %q, callee %q", code, body, h.Value(), callerID, inv.CallID().Value())
		}
		_ = cs.Hangup(ctx(t))
		waitActive(t, e, 0)
	}
}
