package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/earshot/earshot/b2bua"
)

// TestWorkspaceEventLatencyAtThousandCalls measures what the issue asks of
// the live call stream at scale: with 1,000 live calls on the supervisor's
// page, how long after the SIP event a new call's row appears. The 1,000
// calls are call events published into the control plane as the b2bua
// publishes them (a thousand real calls with their media would measure
// this machine's two cores, not the page); the measured call is a real one
// over SIP. The page must hold the 1,000 rows, and the new row must come
// from the event stream alone, without the stream resending the list. The
// figure is logged; the test holds it only to a second (a loaded CI
// machine); docs/workspace.md has the one measured.
func TestWorkspaceEventLatencyAtThousandCalls(t *testing.T) {
	e := start(t, testConfig(t))
	base := "http://" + e.app.HTTPAddr
	b := newBrowser(t)
	sup := b.tab("supervisor")
	sup.do("open the page", 5*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/"))
	sup.wait("sign-in form", `!document.getElementById('login').hidden && document.readyState === 'complete'`, 3*time.Second)
	sup.do("sign in", 3*time.Second, chromedp.SendKeys(chromedp.CSS("#login-user"), "2001"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "demo"), chromedp.Click(chromedp.CSS("#login-form button")))
	sup.wait("supervisor view", `!document.getElementById('supervisor').hidden && document.getElementById('status').textContent === 'Live.'`, 3*time.Second)

	// The calls arrive a hundred at a time, each batch shown before the
	// next: a burst beyond a stream's buffer (256 events) would end the
	// stream and make the page reload its list from the b2bua, which
	// knows nothing of published-only calls.
	// Every error the page throws is kept, and there must be none.
	eval[bool](sup, `(() => { window.errs = []; window.addEventListener('error', (e) => errs.push(String(e.message)));
		window.addEventListener('unhandledrejection', (e) => errs.push(String(e.reason))); return true })()`)
	const calls, batch = 1000, 100
	now := time.Now()
	for i := range calls {
		if i > 0 && i%batch == 0 {
			shownRows(t, sup, i)
		}
		snap := b2bua.CallSnapshot{ID: fmt.Sprintf("load-%04d", i), Tenant: "demo", Direction: b2bua.Inbound,
			Group: "support", Number: "100", Label: "Support line", Caller: b2bua.Party{Number: fmt.Sprintf("+4930%07d", i)},
			Callee: b2bua.Party{Number: "1001"}, Agents: []string{"1001"}, State: b2bua.StateAnswered,
			StartedAt: now, AnsweredAt: now, SessionID: fmt.Sprintf("%032x", i), CallerCallID: fmt.Sprintf("load-%d@test", i)}
		e.app.Events.CallEvent(b2bua.CallEvent{Type: b2bua.CallStarted, Time: now, Call: snap})
	}
	shownRows(t, sup, calls)

	eval[bool](sup, `(() => { window.seen = {}; const tb = document.querySelector('#calls tbody');
		new MutationObserver(() => { for (const tr of tb.rows) if (tr.dataset.id && !seen[tr.dataset.id]) seen[tr.dataset.id] = performance.timeOrigin + performance.now() })
		.observe(tb, {childList: true}); return true })()`)
	events := sseTimed(t, e, "demo-2001")
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	got := answerNext(t, agent)
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cs.Hangup(ctx(t)) }()
	if <-got == nil {
		t.Fatal("agent did not answer")
	}
	var started struct {
		Time time.Time `json:"time"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	for started.Data.ID == "" {
		select {
		case ev := <-events:
			var env struct {
				Type string `json:"type"`
			}
			if json.Unmarshal([]byte(ev.data), &env) == nil && env.Type == "call.started" {
				if err := json.Unmarshal([]byte(ev.data), &started); err != nil {
					t.Fatal(err)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no call.started event for the real call")
		}
	}
	row := `document.querySelector('#calls tr[data-id=` + jsString(started.Data.ID) + `]')`
	sup.wait("the real call among 1,000", row+` !== null`, 2*time.Second)
	shown := time.UnixMicro(int64(eval[float64](sup, `seen[`+jsString(started.Data.ID)+`]`) * 1000))
	latency := shown.Sub(started.Time)
	t.Logf("with %d live calls on the page: call event to DOM %v", calls, latency.Round(time.Millisecond))
	if latency > time.Second {
		t.Errorf("call shown %v after its event with %d calls on the page; want well within a second", latency, calls)
	}
	if n := eval[float64](sup, `document.querySelectorAll('#calls tbody tr').length`); n != calls+1 {
		t.Errorf("%v rows on the page, want %d", n, calls+1)
	}
	if errs := eval[string](sup, `JSON.stringify(window.errs)`); errs != "[]" {
		t.Errorf("the page threw: %s", errs)
	}
}

// shownRows waits until the page shows n of the published calls.
func shownRows(t *testing.T, sup *tab, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows := eval[float64](sup, `document.querySelectorAll('#calls tbody tr[data-id^="load-"]').length`)
		if int(rows) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d published calls on the page after 5 s; page errors %s, visibility %s, status %q", rows, n,
				eval[string](sup, `JSON.stringify(window.errs)`), eval[string](sup, `document.visibilityState`),
				eval[string](sup, `document.getElementById('status').textContent`))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
