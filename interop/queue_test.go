package interop

import (
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSippQueueBatch: 100 customer calls from sipp into a group of 10
// agents (one sipp UAS answering every agent's calls after 300 ms of
// ringing) arrive far faster than the agents can take them. None is
// refused: every one waits in the queue (early media) and is answered,
// and the waits and SLA the API reports are the ones sipp measured.
func TestSippQueueBatch(t *testing.T) {
	needTool(t, "sipp")
	var agents []string
	for i := 1; i <= 10; i++ {
		agents = append(agents, strconv.Itoa(1000+i))
	}
	const calls, threshold = 100, 3 * time.Second
	e := startEarshot(t, options{rtpMin: 32000, level: "warn", agents: agents, strategy: "longest-idle",
		sla: threshold.String(), queue: "        queue:\n          answer: early_media\n"})
	dir := t.TempDir()
	uasPort := freePort(t, "127.0.0.3")
	registerAgents(t, e, "127.0.0.3", uasPort, agents, "demo")
	uas := startSipp(t, "uas", dir, "-sf", scenario(t, "agent_uas_delay.xml"),
		"-i", "127.0.0.3", "-p", strconv.Itoa(uasPort), "-t", "u1", "-d", "300", "-m", strconv.Itoa(calls))
	waitBound(t, addr("127.0.0.3", uasPort), 10*time.Second)
	uac := startSipp(t, "uac", dir, "-sf", scenario(t, "customer_queue_uac.xml"), "-s", "100",
		"-i", "127.0.0.2", "-p", strconv.Itoa(freePort(t, "127.0.0.2")), "-t", "u1",
		"-d", "1000", "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls), "-r", "25",
		"-trace_rtt", "-rtt_freq", "1", e.SIP)
	if code := uac.wait(t, 90*time.Second); code != 0 {
		t.Errorf("customer sipp exited %d, want 0 (every call answered)\n%s", code, tail(uac.out.String(), 3000))
	}
	if code := uas.wait(t, 15*time.Second); code != 0 {
		t.Errorf("agent sipp exited %d, want 0\n%s", code, tail(uas.out.String(), 3000))
	}
	if ok, failed := uac.count(t, "SuccessfulCall(C)"), uac.count(t, "FailedCall(C)"); ok != calls || failed != 0 {
		t.Fatalf("customers: %d answered and %d failed, want %d and 0", ok, failed, calls)
	}
	waits := sippWaits(t, dir)
	if len(waits) != calls {
		t.Fatalf("sipp recorded %d response times, want %d", len(waits), calls)
	}
	var sum time.Duration
	within := 0
	near := 0 // waits so close to the threshold that 1 ms of clock skew could flip them
	for _, w := range waits {
		sum += w
		if w <= threshold {
			within++
		}
		if d := w - threshold; d > -20*time.Millisecond && d < 20*time.Millisecond {
			near++
		}
	}
	mean := sum / time.Duration(len(waits))
	if joined := e.metric(t, "earshot_queue_joined_total"); joined < calls/2 {
		t.Errorf("only %.0f of %d callers queued: the batch did not exceed the agents", joined, calls)
	}
	// The API's figures, once every call has ended.
	var st struct {
		Waiting  int `json:"waiting"`
		LastHour struct {
			Answered int     `json:"answered"`
			Missed   int     `json:"missed"`
			AvgWait  float64 `json:"average_wait_seconds"`
		} `json:"last_hour"`
		SLA map[string]*float64 `json:"sla"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		apiGet(t, e, "/stats?group=support", &st)
		if st.LastHour.Answered+st.LastHour.Missed >= calls || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.LastHour.Answered != calls || st.LastHour.Missed != 0 || st.Waiting != 0 {
		t.Fatalf("API: %d answered, %d missed, %d waiting; want %d, 0, 0", st.LastHour.Answered, st.LastHour.Missed, st.Waiting, calls)
	}
	if d := math.Abs(st.LastHour.AvgWait - mean.Seconds()); d > 0.05 {
		t.Errorf("API average wait %.3fs, sipp measured %.3fs", st.LastHour.AvgWait, mean.Seconds())
	}
	sla := st.SLA["5m"]
	want := float64(within) * 100 / calls
	if sla == nil || math.Abs(*sla-want) > float64(near)*100/calls+1e-9 {
		t.Errorf("API SLA (5m, %v) %v%%, sipp measured %.0f%% (%d calls within 20 ms of the threshold)", threshold, sla, want, near)
	}
	t.Logf("%d calls, 10 agents: mean wait %.2fs (API %.2fs), longest %.2fs, SLA %.0f%% within %v", calls,
		mean.Seconds(), st.LastHour.AvgWait, maxDuration(waits).Seconds(), want, threshold)
}

// sippWaits reads the response times sipp's -trace_rtt wrote in dir.
func sippWaits(t *testing.T, dir string) []time.Duration {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	if len(files) != 1 {
		t.Fatalf("want one sipp rtt file in %s, found %v", dir, files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
		f := strings.Split(line, ";")
		if len(f) < 2 {
			continue
		}
		ms, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil {
			t.Fatalf("rtt line %q: %v", line, err)
		}
		out = append(out, time.Duration(ms*float64(time.Millisecond)))
	}
	return out
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// apiGet GETs an API path as the demo supervisor and decodes the answer.
func apiGet(t *testing.T, e *earshot, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.HTTP+"/api/v1"+path, nil)
	req.Header.Set("Authorization", "Bearer demo-2001")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
