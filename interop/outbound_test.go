package interop

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSippOutboundCallSupervised: an agent (sipp, user 1001, answering
// earshot's digest challenge) calls a customer out through the trunk,
// whose carrier is a sipp phone echoing the audio; a supervisor whose
// phone is a real baresip listens through the API, switches to whisper
// and barge, and leaves. Every request succeeds, earshot mixes the call
// while supervised and relays it again after, baresip receives the call's
// audio, and both sipps complete their calls (exit 0).
func TestSippOutboundCallSupervised(t *testing.T) {
	bin := needTool(t, "baresip")
	needTool(t, "sipp")
	e := startEarshot(t, options{rtpMin: 30000, level: "warn", agents: []string{"1001"}, strategy: "ring-all"})
	sup := startBaresip(t, bin, e, "2001", false, "")
	waitMetric(t, e, "earshot_registrations", 1, 10*time.Second)

	dir := t.TempDir()
	carrier := startSipp(t, "carrier", dir, "-sf", scenario(t, "agent_uas.xml"),
		"-i", "127.0.0.2", "-p", "5080", "-t", "u1",
		"-mi", "127.0.0.2", "-mp", strconv.Itoa(freePort(t, "127.0.0.2")), "-rtp_echo", "-m", "1")
	waitBound(t, "127.0.0.2:5080", 10*time.Second)

	const packets = 600 // 12 s of the agent's audio
	work := t.TempDir()
	writePCMUPcap(t, filepath.Join(work, "audio.pcap"), packets)
	agent := startSipp(t, "agent", work, "-sf", localScenario(t, "agent_outbound_uac.xml"), "-s", "0049301234567",
		"-au", "1001", "-ap", "demo",
		"-i", "127.0.0.3", "-p", strconv.Itoa(freePort(t, "127.0.0.3")), "-t", "u1",
		"-mi", "127.0.0.3", "-mp", strconv.Itoa(freePort(t, "127.0.0.3")),
		"-d", "9000", "-m", "1", e.SIP)

	var callID string
	deadline := time.Now().Add(10 * time.Second)
	for callID == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no answered outbound call\nagent: %s\ncarrier: %s", tail(agent.out.String(), 2000), tail(carrier.out.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
		var list struct {
			Calls []struct {
				ID        string   `json:"id"`
				Direction string   `json:"direction"`
				State     string   `json:"state"`
				Agents    []string `json:"agents"`
			} `json:"calls"`
		}
		apiGet(t, e, "/calls", &list)
		for _, c := range list.Calls {
			if c.Direction == "outbound" && c.State == "answered" && strings.Join(c.Agents, ",") == "1001" {
				callID = c.ID
			}
		}
	}

	code, sv := apiDo(t, e, "POST", "/calls/"+callID+"/supervisions", `{"mode":"listen"}`)
	if code != 201 {
		t.Fatalf("listen: %d %v", code, sv)
	}
	supID, _ := sv["id"].(string)
	waitMetric(t, e, "earshot_mixed_sessions", 1, 10*time.Second)
	for _, mode := range []string{"whisper", "barge"} {
		if code, body := apiDo(t, e, "PATCH", "/supervisions/"+supID, `{"mode":"`+mode+`"}`); code != 200 {
			t.Fatalf("%s: %d %v", mode, code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code, body := apiDo(t, e, "DELETE", "/supervisions/"+supID, ""); code != 204 {
		t.Fatalf("disconnect: %d %v", code, body)
	}
	waitMetric(t, e, "earshot_mixed_sessions", 0, 10*time.Second)

	if code := agent.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent sipp exited %d, want 0\n%s", code, tail(agent.out.String(), 3000))
	}
	if code := carrier.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("carrier sipp exited %d, want 0\n%s", code, tail(carrier.out.String(), 3000))
	}
	for _, want := range []string{"Call established", "incoming rtp for 'audio' established"} {
		if !strings.Contains(sup.String(), want) {
			t.Errorf("the supervisor's baresip never logged %q", want)
		}
	}
}

// apiDo sends a request to earshot's API as supervisor 2001 and returns
// the status and the decoded JSON body (nil for none).
func apiDo(t *testing.T, e *earshot, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+e.HTTP+"/api/v1"+path, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer demo-2001")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}
