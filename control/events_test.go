package control

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// stream is an open event stream read by a goroutine into frames.
type stream struct {
	frames chan sseFrame
	cancel context.CancelFunc
}

type sseFrame struct {
	id    string
	event string
	data  Event
	raw   string
}

func openStream(t *testing.T, srv *httptest.Server, token string) *stream {
	return openStreamB(t, srv, token)
}

func openStreamB(t testing.TB, srv *httptest.Server, token string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("events: %d %v", res.StatusCode, res.Header)
	}
	s := &stream{frames: make(chan sseFrame, 64), cancel: cancel}
	go func() {
		defer close(s.frames)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var fr sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				fr.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				fr.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				fr.raw = strings.TrimPrefix(line, "data: ")
				_ = json.Unmarshal([]byte(fr.raw), &fr.data)
			case line == "" && fr.event != "":
				s.frames <- fr
				fr = sseFrame{}
			}
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next returns the next event; the timeout only turns a hang into a failure.
func (s *stream) next(t *testing.T) sseFrame {
	t.Helper()
	select {
	case fr, ok := <-s.frames:
		if !ok {
			t.Fatal("stream ended")
		}
		return fr
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return sseFrame{}
}

func TestEventsFilteredPerPrincipal(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	sup := openStream(t, srv, tokSup)
	sup2 := openStream(t, srv, tokSup2) // same tenant, not assigned to support
	agent := openStream(t, srv, tokAgent)
	agent2 := openStream(t, srv, tokAgent2)
	other := openStream(t, srv, tokOtherSup)
	if n := f.svc.Stats().SSESubscribers; n != 5 {
		t.Fatalf("%d subscribers", n)
	}

	h := f.openHelp()
	if fr := sup.next(t); fr.event != EventHelpAssigned || !strings.Contains(fr.raw, h.ID) {
		t.Fatalf("supervisor got %+v", fr)
	}
	if fr := agent.next(t); fr.event != EventHelpAssigned {
		t.Fatalf("agent got %+v", fr)
	}
	// Monitoring of the agent's call, and call events.
	sp := b2bua.SupervisionSnapshot{ID: "s1", CallID: "c1", Tenant: "acme", Supervisor: "2001", Agent: "1001",
		Mode: b2bua.ModeListen, State: b2bua.SupActive, Via: b2bua.ViaAPI}
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: sp})
	c2, _ := f.sw.Call("c2")
	f.svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: c2})
	f.svc.flush()
	if fr := sup.next(t); fr.event != "supervision.started" || fr.data.Type != "supervision.started" {
		t.Fatalf("supervisor got %+v", fr)
	}
	if fr := sup.next(t); fr.event != "call.answered" {
		t.Fatalf("supervisor got %+v", fr)
	}
	if fr := sup2.next(t); fr.event != "supervision.started" {
		t.Fatalf("second supervisor got %+v", fr)
	}
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/accept", tokSup, "")
	if fr := sup.next(t); fr.event != EventHelpAccepted {
		t.Fatalf("supervisor got %+v", fr)
	}
	f.must(201, "POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"I am here"}`)
	// The agent's next events are its request's acceptance and the note:
	// nothing about the listen or the calls came before them.
	if fr := agent.next(t); fr.event != EventHelpAccepted {
		t.Fatalf("agent got %+v", fr)
	}
	if fr := agent.next(t); fr.event != EventNote || !strings.Contains(fr.raw, "I am here") {
		t.Fatalf("agent got %+v", fr)
	}
	// The other agent and the other tenant saw nothing: their first event
	// is the one addressed to them now.
	f.must(201, "POST", "/api/v1/calls/c2/notes", tokSup, `{"text":"for 1002"}`)
	if fr := agent2.next(t); fr.event != EventNote || !strings.Contains(fr.raw, "for 1002") {
		t.Fatalf("other agent got %+v", fr)
	}
	z, _ := f.sw.Call("z1")
	f.svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallStarted, Time: t0, Call: z})
	f.svc.flush()
	if fr := other.next(t); fr.event != "call.started" || !strings.Contains(fr.raw, `"z1"`) {
		t.Fatalf("other tenant got %+v", fr)
	}

	// Cancel: the assignee is told.
	f.sw.add(call("c5", "acme", "support", "100", "1001", b2bua.StateAnswered))
	var h2 HelpRequest
	f.must(201, "POST", "/api/v1/help-requests", tokAgent, `{"call_id":"c5"}`).decode(t, &h2)
	f.must(200, "POST", "/api/v1/help-requests/"+h2.ID+"/cancel", tokAgent, "")
	if fr := sup.next(t); fr.event != EventHelpAssigned {
		t.Fatalf("supervisor got %+v", fr)
	}
	if fr := sup.next(t); fr.event != EventHelpCanceled || !strings.Contains(fr.raw, h2.ID) {
		t.Fatalf("supervisor got %+v", fr)
	}

	// Close ends every stream.
	f.svc.Close()
	for _, s := range []*stream{sup, sup2, agent, agent2, other} {
		for range s.frames {
		}
	}
	if n := f.svc.Stats().SSESubscribers; n != 0 {
		t.Errorf("%d subscribers after Close", n)
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	h := newHub(2)
	p := Principal{Tenant: "acme", User: "2001", Role: RoleSupervisor}
	sub, _ := h.subscribe(p)
	for range 3 {
		h.publish(audience{tenant: "acme", supervisors: true}, Event{Type: "x"})
	}
	if h.count() != 0 || h.dropped.Load() != 1 {
		t.Fatalf("count %d dropped %d", h.count(), h.dropped.Load())
	}
	n := 0
	for range sub.ch {
		n++
	}
	if n != 2 {
		t.Errorf("%d frames before the drop", n)
	}
	h.close()
	if _, ok := h.subscribe(p); ok {
		t.Error("subscribed after close")
	}
}

// TestEventIDsPerStream: every stream numbers its own events 1, 2, 3 …, so
// an agent sees no gap where monitoring of its call happened, and a tenant
// learns nothing of another's traffic from the numbers.
func TestEventIDsPerStream(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	sup := openStream(t, srv, tokSup)
	agent := openStream(t, srv, tokAgent)
	other := openStream(t, srv, tokOtherSup)
	h := f.openHelp()
	sp := b2bua.SupervisionSnapshot{ID: "s1", CallID: "c1", Tenant: "acme", Supervisor: "2001", Agent: "1001",
		Mode: b2bua.ModeListen, State: b2bua.SupActive, Via: b2bua.ViaAPI}
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: sp})
	f.svc.flush()
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/accept", tokSup, "")
	for i, want := range []string{EventHelpAssigned, "supervision.started", EventHelpAccepted} {
		if fr := sup.next(t); fr.event != want || fr.id != strconv.Itoa(i+1) {
			t.Fatalf("supervisor's event %d: %+v, want %s with id %d", i+1, fr, want, i+1)
		}
	}
	for i, want := range []string{EventHelpAssigned, EventHelpAccepted} {
		if fr := agent.next(t); fr.event != want || fr.id != strconv.Itoa(i+1) {
			t.Fatalf("agent's event %d: %+v, want %s with id %d (no gap for the listen)", i+1, fr, want, i+1)
		}
	}
	z, _ := f.sw.Call("z1")
	f.svc.CallEvent(b2bua.CallEvent{Type: b2bua.CallStarted, Time: t0, Call: z})
	f.svc.flush()
	if fr := other.next(t); fr.id != "1" {
		t.Fatalf("other tenant's first event has id %q, want 1", fr.id)
	}
	f.svc.Close() // ends the streams, so the test server can close
	for _, s := range []*stream{sup, agent, other} {
		for range s.frames {
		}
	}
}
