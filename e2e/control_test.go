package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/internal/phone"
)

// api calls the REST API with a demo token and decodes the JSON answer.
func api(t *testing.T, e *env, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+e.app.HTTPAddr+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// sse subscribes to the event stream and delivers event types and data.
func sse(t *testing.T, e *env, token string) <-chan [2]string {
	t.Helper()
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(c, "GET", "http://"+e.app.HTTPAddr+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("event stream: %v %v", err, res)
	}
	ch := make(chan [2]string, 64)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				select {
				case ch <- [2]string{typ, strings.TrimPrefix(line, "data: ")}:
				default:
				}
			}
		}
	}()
	return ch
}

func waitEvent(t *testing.T, ch <-chan [2]string, typ string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev[0] == typ {
				return ev[1]
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

// TestHelpRequestToSupervisionOverREST is the control plane's story end to
// end: an agent on a call asks for help, the supervisor is notified, accepts,
// whispers and barges through the API (proven by tones on the real call),
// disconnects, and the agent closes the request; the audit has every step.
func TestHelpRequestToSupervisionOverREST(t *testing.T) {
	e := start(t, testConfig(t))
	sc := newSupCall(t, e, callOpts{})
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)
	supEvents := sse(t, e, "demo-2001")
	agentEvents := sse(t, e, "demo-1001")

	code, calls := api(t, e, "demo-2001", "GET", "/calls?group=support", nil)
	list, _ := calls["calls"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("GET /calls: %d %v", code, calls)
	}
	callID, _ := list[0].(map[string]any)["id"].(string)

	code, hr := api(t, e, "demo-1001", "POST", "/help-requests", map[string]any{"call_id": callID, "reason": "refund policy"})
	if code != 201 || hr["status"] != "open" {
		t.Fatalf("open help request: %d %v", code, hr)
	}
	hrID, _ := hr["id"].(string)
	if data := waitEvent(t, supEvents, "help_request.assigned"); !strings.Contains(data, hrID) {
		t.Errorf("assignment event for another request: %s", data)
	}
	if _, c := api(t, e, "demo-2001", "GET", "/calls/"+callID, nil); c["help_requested"] != true {
		t.Errorf("call's help_requested flag after opening: %v", c["help_requested"])
	}

	code, acc := api(t, e, "demo-2001", "POST", "/help-requests/"+hrID+"/accept", nil)
	if code != 200 {
		t.Fatalf("accept: %d %v", code, acc)
	}
	if _, got := api(t, e, "demo-2001", "GET", "/help-requests/"+hrID, nil); got["status"] != "in_progress" || got["help_provided_by"] != "2001" {
		t.Errorf("after accept: %v", got)
	}
	if _, c := api(t, e, "demo-2001", "GET", "/calls/"+callID, nil); c["help_requested"] != false {
		t.Errorf("call's help_requested flag after accept: %v", c["help_requested"])
	}

	answered := answerNext(t, sp)
	code, sv := api(t, e, "demo-2001", "POST", "/calls/"+callID+"/supervisions", map[string]any{"mode": "whisper"})
	if code != 201 {
		t.Fatalf("start supervision: %d %v", code, sv)
	}
	svID, _ := sv["id"].(string)
	ss := <-answered
	if ss == nil {
		t.Fatal("supervisor's phone did not answer")
	}
	sup := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	sc.expect("whisper by API", hearing{sc.cust: {sAgt}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	if code, _ := api(t, e, "demo-2001", "PATCH", "/supervisions/"+svID, map[string]any{"mode": "barge"}); code != 200 {
		t.Fatalf("switch to barge: %d", code)
	}
	sc.expect("barge by API", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, sup: {sCust, sAgt}}, all...)
	if code, _ := api(t, e, "demo-2001", "DELETE", "/supervisions/"+svID, nil); code != 200 && code != 204 {
		t.Fatalf("end supervision: %d", code)
	}
	waitEnded(t, "supervisor", ss)

	code, closed := api(t, e, "demo-1001", "POST", "/help-requests/"+hrID+"/close", nil)
	if code != 200 {
		t.Fatalf("close: %d %v", code, closed)
	}
	waitEvent(t, agentEvents, "help_request.closed")

	// The agent never learns of the monitoring: no supervision event on its
	// stream, and the audit is not for agents.
	drain := time.After(300 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-agentEvents:
			if strings.HasPrefix(ev[0], "supervision.") {
				t.Errorf("agent's stream got %s", ev[0])
			}
		case <-drain:
			done = true
		}
	}
	if code, _ := api(t, e, "demo-1001", "GET", "/audit", nil); code != 403 {
		t.Errorf("agent reading the audit: %d, want 403", code)
	}

	// The API's own records (requested, change_mode, end) and the b2bua's
	// (started, mode_changed, ended) come from two writers, so only each
	// writer's order is fixed; both must be complete.
	var actions []string
	deadline := time.Now().Add(3 * time.Second)
	byAPI := []string{"help_request.opened", "help_request.accepted", "supervision.requested",
		"supervision.change_mode", "supervision.end", "help_request.closed"}
	bySIP := []string{"supervision.started", "supervision.mode_changed", "supervision.ended"}
	for {
		_, page := api(t, e, "demo-2001", "GET", "/audit?call_id="+callID, nil)
		recs, _ := page["records"].([]any)
		actions = actions[:0]
		var last time.Time
		for _, r := range recs {
			m := r.(map[string]any)
			actions = append(actions, m["action"].(string))
			ts, err := time.Parse(time.RFC3339Nano, m["time"].(string))
			if err != nil || ts.Before(last) {
				t.Fatalf("audit time %v (%v) after %v", m["time"], err, last)
			}
			last = ts
		}
		if (isSubsequence(byAPI, actions) && isSubsequence(bySIP, actions)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !isSubsequence(byAPI, actions) || !isSubsequence(bySIP, actions) {
		t.Errorf("audit actions %v, want in order %v and %v", actions, byAPI, bySIP)
	}

	body := get(t, "http://"+e.app.HTTPAddr+"/metrics")
	for _, want := range []string{
		`earshot_api_requests_total{code="201",route="POST /api/v1/help-requests"} 1`,
		`earshot_help_requests_total{status="closed"} 1`,
		`earshot_help_requests_active{status="open"} 0`,
		`earshot_api_request_duration_seconds_count{route="GET /api/v1/audit"}`,
		"earshot_sse_subscribers 2",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if v := metricValue(body, "earshot_audit_records_total"); v < float64(len(byAPI)+len(bySIP)) {
		t.Errorf("earshot_audit_records_total = %v", v)
	}
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
