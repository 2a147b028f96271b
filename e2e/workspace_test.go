package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/earshot/earshot/internal/phone"
)

// TestWorkspaceStory is the browser workspace's whole story in a real
// browser: the supervisor signs in and watches a customer's call appear
// and run; the agent signs in in another browser and asks for help; the
// supervisor confirms, listens (earshot rings the supervisor's test phone,
// which then hears both parties), coaches and barges by the panel's
// buttons and writes a note the agent's page shows; the agent's page shows
// no trace of the monitoring; the supervisor disconnects and the agent
// closes the request. Filters, the SLA selector and the counters are held
// to the API's numbers. Screenshots of both views are taken every run
// (kept in docs/ with `make screenshots`).
func TestWorkspaceStory(t *testing.T) {
	e := start(t, testConfig(t))
	base := "http://" + e.app.HTTPAddr
	b := newBrowser(t)

	// The first load: the page and its assets from loopback with nothing
	// cached, as earshot serves them (best of three, for a shared
	// machine), and as a fresh browser context sees them (Navigation
	// Timing: chromium's own start-up of a context dominates it here, so
	// it is reported and only held to a loose bound).
	srv := loopbackLoad(t, base)
	t.Logf("first load from loopback: %v, %d bytes", srv.d.Round(100*time.Microsecond), srv.bytes)
	if srv.d > 200*time.Millisecond || srv.bytes > 300<<10 {
		t.Errorf("first load %v, %d bytes; want under 200 ms and 300 KB", srv.d, srv.bytes)
	}
	best := loadTime{Ms: 1e9}
	for i := range 3 {
		l := firstLoad(t, b, base, fmt.Sprintf("fresh browser %d", i+1))
		t.Logf("first load in a fresh browser context %d: %.0f ms, %.0f bytes transferred (HTML %.0f ms, DOMContentLoaded %.0f ms)",
			i+1, l.Ms, l.Bytes, l.HTML, l.DCL)
		if l.Ms < best.Ms {
			best = l
		}
	}
	if best.Ms > 1000 || best.Bytes > 300<<10 {
		t.Errorf("first load in the browser %.0f ms, %.0f bytes; want under 1 s and 300 KB", best.Ms, best.Bytes)
	}

	// A missed call from the customer's number first (nobody is logged
	// in, so the queue turns it away): the caller card's history.
	if s, err := e.customer().Call(ctx(t), "100"); err == nil {
		_ = s.Hangup(ctx(t))
	}

	// The supervisor, in a browser five and a half hours east of UTC.
	sup := b.tab("supervisor")
	sup.do("open the page", 5*time.Second, chromedp.EmulateViewport(1280, 800), timezone("Asia/Kolkata"), chromedp.Navigate(base+"/"))
	sup.wait("sign-in form", `!document.getElementById('login').hidden && document.readyState === 'complete'`, 3*time.Second)
	sup.do("sign in", 3*time.Second, chromedp.SendKeys(chromedp.CSS("#login-user"), "2001"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "demo"), chromedp.Click(chromedp.CSS("#login-form button")))
	sup.wait("supervisor view", `!document.getElementById('supervisor').hidden && document.getElementById('status').textContent === 'Live.'`, 3*time.Second)
	// This supervisor works with a SIP phone, not the page's webphone.
	sup.choose("#phone-device", "phone")
	// A request the page makes without its CSRF token is refused, even
	// with the cookie.
	if code := eval[float64](sup, `fetch('/api/v1/help-requests', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: '{"call_id":"x"}'}).then(r => r.status)`); code != 403 {
		t.Errorf("POST without the CSRF token: %v, want 403", code)
	}

	// Watch the call list: when does each row appear?
	eval[bool](sup, `(() => { window.seen = {}; const tb = document.querySelector('#calls tbody');
		new MutationObserver(() => { for (const tr of tb.rows) if (tr.dataset.id && !seen[tr.dataset.id]) seen[tr.dataset.id] = performance.timeOrigin + performance.now() })
		.observe(tb, {childList: true}); return true })()`)
	events := sseTimed(t, e, "demo-2001")

	sc := newSupCall(t, e, callOpts{})
	sp := sc.supervisor("2001", "127.0.0.15", sSup, phone.PCMU)
	var started struct {
		Time time.Time `json:"time"`
		Data struct {
			ID        string    `json:"id"`
			StartedAt time.Time `json:"started_at"`
		} `json:"data"`
	}
	var arrived time.Time
	select {
	case ev := <-events:
		arrived = ev.at
		if err := json.Unmarshal([]byte(ev.data), &started); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no call.started event")
	}
	callID := started.Data.ID
	row := `document.querySelector('#calls tr[data-id=` + jsString(callID) + `]')`
	sup.wait("the call in the stream", row+` !== null`, time.Second)
	ms := func(v float64) time.Time { return time.UnixMicro(int64(v * 1000)) }
	shown := ms(eval[float64](sup, `seen[`+jsString(callID)+`]`))
	inPage := ms(eval[float64](sup, `performance.timeOrigin + performance.getEntriesByName('earshot:call.started')[0].startTime`))
	latency := shown.Sub(started.Time)
	t.Logf("call event to DOM: %v (server to a Go stream client: %v; server to the page's event handler: %v; handler to DOM: %v)",
		latency.Round(time.Millisecond), arrived.Sub(started.Time).Round(time.Millisecond),
		inPage.Sub(started.Time).Round(time.Millisecond), shown.Sub(inPage).Round(100*time.Microsecond))
	if latency > time.Second {
		t.Errorf("call shown %v after its event; want within a second", latency)
	}
	// The row has the caller, the direction, the group and line, a
	// start time in the browser's zone, and a running duration.
	sup.wait("the answered call's row", row+`.textContent.includes('5551234') && `+row+`.textContent.includes('Incoming') && `+
		row+`.textContent.includes('Support line') && `+row+`.textContent.includes('Agent One')`, 2*time.Second)
	local := started.Data.StartedAt.In(time.FixedZone("IST", 5*3600+1800))
	if at := eval[string](sup, row+`.cells[0].textContent`); !strings.Contains(at, local.Format("04:05")) ||
		!(strings.Contains(at, local.Format("15:04")) || strings.Contains(at, local.Format("03:04"))) {
		t.Errorf("start time %q, want %s in the browser's zone", at, local.Format("15:04:05"))
	}
	d0 := eval[string](sup, row+`.querySelector('.dur').textContent`)
	sup.wait("the duration to run", row+`.querySelector('.dur').textContent !== `+jsString(d0), 2500*time.Millisecond)

	// The agent, in another browser, signs in by keyboard alone.
	agent := b.tab("agent")
	agent.do("open the page", 5*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/"))
	agent.wait("sign-in form", `!document.getElementById('login').hidden`, 3*time.Second)
	agent.do("sign in", 3*time.Second, chromedp.SendKeys(chromedp.CSS("#login-user"), "1001\t"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "demo\r"))
	agent.wait("my call", `!document.getElementById('agent').hidden && document.querySelector('#mycall .caller') !== null &&
		document.querySelector('#mycall .caller').textContent.includes('5551234') && !document.getElementById('help-btn').disabled`, 3*time.Second)
	agent.click("Help", "#help-btn")
	agent.wait("help requested", `document.getElementById('help-state').textContent.includes('waiting for a supervisor') &&
		document.getElementById('help-btn').textContent === 'Close help request'`, 2*time.Second)

	// The supervisor is notified at once and confirms.
	item := `document.querySelector('#help-list li[data-status=open]')`
	sup.wait("the help notification", item+` !== null && `+item+`.textContent.includes('Agent One')`, time.Second)
	hrID := eval[string](sup, item+`.dataset.id`)
	sup.click("Confirm", `#help-list li[data-status=open] button`)
	sup.wait("In Progress with HelpProvidedBy", `(() => { const li = document.querySelector('#help-list li[data-id=`+jsString(hrID)+`]');
		return li.dataset.status === 'in_progress' && li.textContent.includes('In Progress') && li.textContent.includes('HelpProvidedBy: Supervisor (2001)') })()`, 2*time.Second)
	if _, hr := api(t, e, "demo-2001", "GET", "/help-requests/"+hrID, nil); hr["status"] != "in_progress" || hr["help_provided_by"] != "2001" {
		t.Errorf("help request after Confirm: %v", hr)
	}
	agent.wait("help in progress", `document.getElementById('help-state').textContent.includes('In Progress')`, 2*time.Second)

	// Listen: earshot rings the supervisor's phone; answered, it hears
	// both parties.
	answered := answerNext(t, sp)
	sup.click("Listen", `#calls tr[data-id=`+jsString(callID)+`] button[data-mode=listen]`)
	ss := <-answered
	if ss == nil {
		t.Fatal("the supervisor's phone did not ring and answer")
	}
	supParty := party{"supervisor", ss, sSup}
	all := []float64{sCust, sAgt, sSup}
	sc.expect("listen from the page", hearing{sc.cust: {sAgt}, sc.agent: {sCust}, supParty: {sCust, sAgt}}, all...)
	sup.wait("the panel in Listen", `!document.getElementById('panel').hidden && document.getElementById('panel-state').textContent === 'Listen' &&
		document.querySelector('.modes [data-mode=listen]').getAttribute('aria-pressed') === 'true'`, 2*time.Second)
	sup.wait("the caller card", `document.getElementById('card-number').textContent === '5551234' &&
		document.getElementById('card-history').textContent.includes('missed')`, 2*time.Second)

	sup.click("Coach", `.modes [data-mode=whisper]`)
	sc.expect("coach from the page", hearing{sc.cust: {sAgt}, sc.agent: {sCust, sSup}, supParty: {sCust, sAgt}}, all...)
	sup.wait("the panel in Coach", `document.querySelector('.modes [data-mode=whisper]').getAttribute('aria-pressed') === 'true'`, 2*time.Second)
	sup.click("Barge", `.modes [data-mode=barge]`)
	sc.expect("barge from the page", hearing{sc.cust: {sAgt, sSup}, sc.agent: {sCust, sSup}, supParty: {sCust, sAgt}}, all...)
	sup.wait("the panel in Barge", `document.getElementById('panel-state').textContent === 'Barge'`, 2*time.Second)

	// The agent's page shows nothing of it.
	if shown := agent.text(); containsAny(strings.ToLower(shown), "listen", "coach", "barge", "intercept", "monitor", "supervising") {
		t.Errorf("the agent's page shows the monitoring:\n%s", shown)
	}

	// A note from the panel reaches the agent's page.
	sup.do("write a note", 3*time.Second, chromedp.SendKeys(chromedp.CSS("#note-text"), "Offer the refund, then close."),
		chromedp.Click(chromedp.CSS("#note-form button")))
	sup.wait("the note in the thread", `document.getElementById('notes').textContent.includes('Offer the refund')`, 2*time.Second)
	agent.wait("the note on the agent's page", `document.getElementById('mynotes').textContent.includes('Offer the refund, then close.')`, 2*time.Second)
	// Every control on show has a name a screen reader can say.
	for _, tb := range []*tab{sup, agent} {
		if unnamed := eval[string](tb, unnamedControls); unnamed != "[]" {
			t.Errorf("%s: controls without an accessible name: %s", tb.name, unnamed)
		}
	}
	dir := t.TempDir()
	if os.Getenv("EARSHOT_SCREENSHOTS") == "docs" {
		dir = "../docs" // make screenshots: the README's pictures
	}
	sup.screenshot(filepath.Join(dir, "workspace-supervisor.png"))
	agent.screenshot(filepath.Join(dir, "workspace-agent.png"))

	// Counters, filters and the SLA selector against the API's numbers.
	checkCounters(t, e, sup, "")
	sup.choose("#f-group", "support")
	sup.wait("the group's stats", `document.getElementById('c-online').textContent === '1'`, 2*time.Second)
	checkCounters(t, e, sup, "support")
	_, list := api(t, e, "demo-2001", "GET", "/calls?group=support&number=100", nil)
	sup.choose("#f-number", "100")
	if n, calls := eval[float64](sup, `document.querySelectorAll('#calls tbody tr').length`), list["calls"].([]any); int(n) != len(calls) || n != 1 {
		t.Errorf("rows for support/100: %v, API: %d", n, len(calls))
	}
	eval[bool](sup, `(() => { document.getElementById('f-number').append(new Option('999', '999')); return true })()`)
	sup.choose("#f-number", "999")
	sup.wait("no rows for another number", `document.querySelectorAll('#calls tbody tr').length === 0 && !document.getElementById('calls-empty').hidden`, time.Second)
	sup.choose("#f-number", "")
	sup.choose("#f-group", "")
	sup.wait("all rows again", row+` !== null`, time.Second)

	// Disconnect; the agent closes the request and may ask again.
	sup.click("Disconnect", "#disconnect")
	waitEnded(t, "supervisor", ss)
	sup.wait("the panel closed", `document.getElementById('panel').hidden`, 2*time.Second)
	agent.click("Close help request", "#help-btn")
	agent.wait("a new Help button", `document.getElementById('help-btn').textContent === 'Help' && !document.getElementById('help-btn').disabled &&
		document.getElementById('help-state').textContent === ''`, 2*time.Second)
	sup.wait("the request closed", `document.querySelector('#help-list li[data-id=`+jsString(hrID)+`]').dataset.status === 'closed'`, 2*time.Second)

	// A new request on the same call; the agent cancels it (from its
	// phone or a script): the supervisor sees it at once.
	agent.click("Help again", "#help-btn")
	sup.wait("the second notification", `document.querySelectorAll('#help-list li[data-status=open]').length === 1`, time.Second)
	hr2 := eval[string](sup, `document.querySelector('#help-list li[data-status=open]').dataset.id`)
	if code, body := api(t, e, "demo-1001", "POST", "/help-requests/"+hr2+"/cancel", nil); code != 200 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	sup.wait("the cancellation", `(() => { const li = document.querySelector('#help-list li[data-id=`+jsString(hr2)+`]');
		return li.dataset.status === 'canceled' && li.textContent.includes('Canceled') && li.querySelector('button') === null })()`, time.Second)
	agent.wait("Help again after the cancellation", `document.getElementById('help-btn').textContent === 'Help'`, 2*time.Second)

	// The customer hangs up: the row goes; the agent pauses, and the
	// supervisor's team list follows.
	if err := sc.cust.s.Hangup(ctx(t)); err != nil {
		t.Fatalf("customer hangs up: %v", err)
	}
	sup.wait("the row gone", row+` === null`, time.Second)
	agent.wait("no call", `document.getElementById('mycall').textContent === 'No call.'`, 2*time.Second)
	agent.choose("#pause-reason", "lunch")
	agent.click("Pause", "#set-paused")
	agent.wait("paused", `document.getElementById('mystate').textContent === 'paused (lunch)'`, 2*time.Second)
	sup.wait("the team shows the pause", `document.querySelector('#team tr[data-ext="1001"]').textContent.includes('paused (lunch)')`, 2*time.Second)
	agent.click("Available", "#set-available")
	agent.wait("available", `document.getElementById('mystate').textContent === 'available' || document.getElementById('mystate').textContent === 'on call'`, 2*time.Second)

	// Tablet width: nothing runs off the side.
	sup.do("tablet width", 3*time.Second, chromedp.EmulateViewport(768, 1024))
	if w := eval[float64](sup, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("at 768 px the page is %v px too wide", w)
	}

	// Sign out: the page returns to the form, and the session is gone.
	sup.click("Sign out", "#signout")
	sup.wait("the sign-in form", `!document.getElementById('login').hidden && document.getElementById('supervisor').hidden`, 2*time.Second)
	if code := eval[float64](sup, `fetch('/api/v1/calls').then(r => r.status)`); code != 401 {
		t.Errorf("API after sign-out: %v, want 401", code)
	}
}

// unnamedControls lists the visible buttons without text or aria-label
// and the visible fields without a label.
const unnamedControls = `JSON.stringify([...document.querySelectorAll('button, input, select, textarea')]
	.filter(e => e.offsetParent !== null)
	.filter(e => e.tagName === 'BUTTON' ? !(e.getAttribute('aria-label') || e.textContent.trim()) : !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
	.map(e => e.outerHTML.slice(0, 80)))`

// loadTime is a page load as the browser's Navigation Timing saw it.
type loadTime struct {
	Ms    float64 `json:"ms"`    // navigation start to the end of the load event
	Bytes float64 `json:"bytes"` // transferred: the page and every resource
	HTML  float64 `json:"html"`  // the page's response complete
	DCL   float64 `json:"dcl"`   // DOMContentLoaded handled (scripts ran)
}

// firstLoad opens the workspace in a fresh browser context (nothing
// cached) and measures the load.
func firstLoad(t *testing.T, b *browser, base, name string) loadTime {
	t.Helper()
	tb := b.tab(name)
	tb.do("open the page", 5*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/"))
	tb.wait("the sign-in form", `!document.getElementById('login').hidden`, 3*time.Second)
	tb.wait("load timing", `performance.getEntriesByType('navigation')[0].loadEventEnd > 0`, 2*time.Second)
	var l loadTime
	if err := json.Unmarshal([]byte(eval[string](tb, `(() => { const n = performance.getEntriesByType('navigation')[0];
		const r = performance.getEntriesByType('resource');
		return JSON.stringify({ms: n.loadEventEnd - n.startTime, bytes: n.transferSize + r.reduce((a, x) => a + x.transferSize, 0),
			html: n.responseEnd - n.startTime, dcl: n.domContentLoadedEventEnd - n.startTime}) })()`)), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

type loopback struct {
	d     time.Duration
	bytes int
}

// loopbackLoad fetches the page and then, in parallel as a browser does,
// every asset it names, on new connections; best of three.
func loopbackLoad(t *testing.T, base string) loopback {
	t.Helper()
	best := loopback{d: time.Hour}
	for range 3 {
		c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
		get := func(url string) ([]byte, int) {
			res, err := c.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 {
				t.Fatalf("GET %s: %d", url, res.StatusCode)
			}
			n := len(b)
			for k, v := range res.Header {
				n += len(k) + len(strings.Join(v, ", ")) + 4
			}
			return b, n
		}
		t0 := time.Now()
		page, n := get(base + "/")
		var assets []string
		for _, part := range strings.Split(string(page), `"/assets/`)[1:] {
			name, _, _ := strings.Cut(part, `"`)
			assets = append(assets, base+"/assets/"+name)
		}
		if len(assets) < 2 {
			t.Fatalf("page names %d assets", len(assets))
		}
		sizes := make(chan int, len(assets))
		for _, a := range assets {
			go func() { _, n := get(a); sizes <- n }()
		}
		for range assets {
			n += <-sizes
		}
		if d := time.Since(t0); d < best.d {
			best = loopback{d, n}
		}
		c.CloseIdleConnections()
	}
	return best
}

type timedEvent struct {
	data string
	at   time.Time
}

// sseTimed subscribes to the event stream and delivers the call.started
// events with the time each arrived.
func sseTimed(t *testing.T, e *env, token string) <-chan timedEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.app.HTTPAddr+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("event stream: %v %v", err, res)
	}
	t.Cleanup(func() { res.Body.Close() })
	ch := make(chan timedEvent, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && typ == "call.started":
				select {
				case ch <- timedEvent{strings.TrimPrefix(line, "data: "), time.Now()}:
				default:
				}
			}
		}
	}()
	return ch
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// checkCounters holds the page's counters and every SLA window to GET /stats.
func checkCounters(t *testing.T, e *env, sup *tab, group string) {
	t.Helper()
	q := ""
	if group != "" {
		q = "?group=" + group
	}
	_, st := api(t, e, "demo-2001", "GET", "/stats"+q, nil)
	hour := st["last_hour"].(map[string]any)
	sup.wait("live counters", fmt.Sprintf(`document.getElementById('c-online').textContent === '%v' && document.getElementById('c-waiting').textContent === '%v'`,
		st["online"], st["waiting"]), 2*time.Second)
	sup.wait("past-hour counters", fmt.Sprintf(`document.getElementById('c-missed').textContent === '%v'`, hour["missed"]), 2*time.Second)
	sla := st["sla"].(map[string]any)
	for _, w := range []string{"5m", "15m", "30m", "60m"} {
		want := "–"
		if v, ok := sla[w].(float64); ok {
			want = fmt.Sprintf("%.0f %%", v)
		}
		sup.choose("#sla-window", w)
		if got := eval[string](sup, `document.getElementById('c-sla').textContent`); got != want {
			t.Errorf("SLA %s (group %q): page %q, API %q", w, group, got, want)
		}
	}
}

// TestWorkspaceSessions: sign-in gives a cookie that authenticates the
// API and the event stream; state-changing requests need the CSRF token;
// a signed-out session can neither call nor stream; tokens still work.
func TestWorkspaceSessions(t *testing.T) {
	e := start(t, testConfig(t))
	base := "http://" + e.app.HTTPAddr
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	do := func(method, path, body, csrf string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := do("POST", "/auth/login", `{"user":"2001","password":"wrong"}`, ""); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	code, body := do("POST", "/auth/login", `{"user":"2001","password":"demo"}`, "")
	var me struct {
		CSRF string `json:"csrf_token"`
		Role string `json:"role"`
	}
	if err := json.Unmarshal([]byte(body), &me); code != 200 || err != nil || me.Role != "supervisor" || me.CSRF == "" {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/v1/calls", "", ""); code != 200 {
		t.Fatalf("API by cookie: %d", code)
	}
	// State-changing: refused without the token or with another one.
	for _, tok := range []string{"", "not-the-token"} {
		if code, _ := do("PUT", "/api/v1/agents/1001/state", `{"state":"available"}`, tok); code != 403 {
			t.Errorf("PUT with CSRF token %q: %d, want 403", tok, code)
		}
	}
	if code, body := do("PUT", "/api/v1/agents/1001/state", `{"state":"available"}`, me.CSRF); code != 200 {
		t.Errorf("PUT with the CSRF token: %d %s", code, body)
	}
	if code, _ := do("POST", "/auth/logout", "", ""); code != 403 {
		t.Errorf("sign-out without the CSRF token: %d", code)
	}

	// The stream works by cookie, and ends when the session does.
	req, _ := http.NewRequest("GET", base+"/api/v1/events", nil)
	stream := &http.Client{Jar: jar}
	res, err := stream.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream by cookie: %v %v", err, res)
	}
	ended := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		close(ended)
	}()
	if code, _ := do("POST", "/auth/logout", "", me.CSRF); code != 204 {
		t.Fatalf("sign-out: %d", code)
	}
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("the stream outlived the session")
	}
	if code, _ := do("GET", "/api/v1/events", "", ""); code != 401 {
		t.Errorf("stream after sign-out: %d, want 401", code)
	}
	if code, _ := do("GET", "/auth/me", "", ""); code != 401 {
		t.Errorf("me after sign-out: %d", code)
	}
	// Scripts keep their tokens.
	if code, _ := api(t, e, "demo-2001", "GET", "/calls", nil); code != 200 {
		t.Errorf("token after sign-out: %d", code)
	}
}
