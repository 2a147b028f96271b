package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/earshot/earshot/internal/phone"
)

// The workspace's webphone: headless Debian chromium with a fake
// microphone playing a tone, signed in to the page, registered over SIP
// over WebSocket, with WebRTC media to earshot. What the page hears is
// read from its own level meter (a WebAudio analyser on the call's
// audio); what the SIP phones hear is decoded as everywhere else.

const (
	toneBrowser = 1750.0 // the browser's fake microphone
	// pageHeard and pageAbsent bound the analyser's level of a tone, in
	// dB of its FFT bin (8192 points at 48 kHz): a G.711 tone at about
	// −10 dBFS reads near −30; where no one sends the tone, the bin
	// holds the G.711 quantisation noise of the tones that are mixed,
	// measured between −75 and −69.
	pageHeard  = -50.0
	pageAbsent = -60.0
)

// webphoneBrowser starts chromium with a fake microphone playing hz.
func webphoneBrowser(t *testing.T, hz float64) *browser {
	return newBrowser(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", toneWAV(t, hz)),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
}

// signIn opens the workspace in tb and signs ext in; the page's phone
// registers.
func signIn(t *testing.T, e *env, tb *tab, ext string) {
	t.Helper()
	tb.do("open the page", 5*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate("http://"+e.app.HTTPAddr+"/"))
	tb.wait("sign-in form", `!document.getElementById('login').hidden && document.readyState === 'complete'`, 3*time.Second)
	tb.do("sign in", 3*time.Second, chromedp.SendKeys(chromedp.CSS("#login-user"), ext),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "demo"), chromedp.Click(chromedp.CSS("#login-form button")))
	tb.wait("the webphone registered", `window.earshotPhone && earshotPhone.state === 'registered' &&
		document.getElementById('phone-state').textContent === 'ready'`, 5*time.Second)
}

// pageLevel is what the page's meter reads at hz, in dB.
func pageLevel(tb *tab, hz float64) float64 {
	return eval[float64](tb, fmt.Sprintf(`Math.max(-200, earshotPhone.levels([%g])[0])`, hz))
}

// pageHears waits until the page hears hz.
func pageHears(t *testing.T, tb *tab, who string, hz float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var l float64
	for time.Now().Before(deadline) {
		if l = pageLevel(tb, hz); l >= pageHeard {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not hear %.0f Hz: %.1f dB (want >= %.0f)", who, hz, l, pageHeard)
}

// pageSilent checks over half a second that the page does not hear hz.
func pageSilent(t *testing.T, tb *tab, who string, hz float64) {
	t.Helper()
	for range 10 {
		if l := pageLevel(tb, hz); l > pageAbsent {
			t.Fatalf("%s hears %.0f Hz at %.1f dB (want <= %.0f)", who, hz, l, pageAbsent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebphoneSupervisor: a supervisor with only a browser listens,
// coaches, barges and intercepts a call between a customer and an agent
// on SIP phones, from the workspace's buttons. The microphone is used
// only from coach on; the hear-matrix is the same as for a SIP
// supervisor, and so is the invisibility: the parties' phones receive no
// SIP request while the browser listens, coaches or barges, and the
// customer none when it intercepts.
func TestWebphoneSupervisor(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	customer := e.customer()
	cs, as := customerToAgent(t, customer, agent)
	calls := answeredCalls(t, e, 1)
	custReqs, agentReqs := customer.Requests(), agent.Requests()

	sup := webphoneBrowser(t, toneBrowser).tab("supervisor")
	signIn(t, e, sup, "2001")
	row := `#calls tr[data-id=` + jsString(calls[0].ID) + `]`
	sup.wait("the call's row", `document.querySelector(`+jsString(row)+`) !== null`, 3*time.Second)

	// Listen: the page answers earshot's call itself, without the
	// microphone.
	sup.click("Listen", row+` button[data-mode=listen]`)
	sup.wait("connected in Listen", `document.getElementById('panel-state').textContent === 'Listen' &&
		[...earshotPhone.calls.values()].some(c => c.state === 'active' && c.pc.connectionState === 'connected')`, 10*time.Second)
	pageHears(t, sup, "supervisor (listen)", toneCustomer)
	pageHears(t, sup, "supervisor (listen)", toneAgent)
	pageSilent(t, sup, "supervisor (listen)", toneBrowser)
	if mic := eval[bool](sup, `[...earshotPhone.calls.values()][0].mic !== null`); mic {
		t.Error("the microphone was taken for Listen")
	}
	expectSilent(t, "customer (listen)", cs, toneBrowser)
	expectSilent(t, "agent (listen)", as, toneBrowser)

	// Coach: the agent hears the browser, the customer does not.
	sup.click("Coach", `.modes [data-mode=whisper]`)
	sup.wait("Coach", `document.getElementById('panel-state').textContent === 'Coach'`, 3*time.Second)
	expectHears(t, "agent (coach)", as, toneBrowser)
	expectSilent(t, "customer (coach)", cs, toneBrowser)
	pageHears(t, sup, "supervisor (coach)", toneCustomer)
	pageHears(t, sup, "supervisor (coach)", toneAgent)
	pageSilent(t, sup, "supervisor (coach)", toneBrowser)

	// Barge: both do.
	sup.click("Barge", `.modes [data-mode=barge]`)
	sup.wait("Barge", `document.getElementById('panel-state').textContent === 'Barge'`, 3*time.Second)
	expectHears(t, "customer (barge)", cs, toneBrowser)
	expectHears(t, "agent (barge)", as, toneBrowser)
	pageHears(t, sup, "supervisor (barge)", toneCustomer)
	pageHears(t, sup, "supervisor (barge)", toneAgent)

	if n, m := customer.Requests()-custReqs, agent.Requests()-agentReqs; n != 0 || m != 0 {
		t.Errorf("SIP requests while the browser listened, coached and barged: customer %d, agent %d; want none", n, m)
	}

	// Intercept: the agent is released; the customer and the browser
	// hear each other.
	sup.click("Intercept", `.modes [data-mode=intercept]`)
	waitEnded(t, "agent (intercept)", as)
	sup.wait("the call is the supervisor's", `document.getElementById('panel-state').textContent.startsWith('Intercepted')`, 3*time.Second)
	expectHears(t, "customer (intercept)", cs, toneBrowser)
	pageHears(t, sup, "supervisor (intercept)", toneCustomer)
	time.Sleep(500 * time.Millisecond) // the agent's tone leaves the meter
	pageSilent(t, sup, "supervisor (intercept)", toneAgent)

	if n := customer.Requests() - custReqs; n != 0 {
		t.Errorf("the customer received %d SIP requests through the intercept; want none", n)
	}

	// Hang up from the page: the customer's call ends.
	sup.click("Hang up", "#disconnect")
	waitEnded(t, "customer", cs)
	sup.wait("the page's call ended", `earshotPhone.calls.size === 0`, 3*time.Second)
}

// TestWebphoneAgent: an agent whose calls ring the browser takes a group
// call in the workspace: Answer, both hear each other, and the customer's
// hang-up ends it in the page. A second call the agent declines goes on
// ringing elsewhere (no one): the customer is told 480 when the ring ends.
func TestWebphoneAgent(t *testing.T) {
	cfg := testConfig(t)
	for i := range cfg.Tenants[0].Users {
		if cfg.Tenants[0].Users[i].Extension == "1001" {
			cfg.Tenants[0].Users[i].Ring = "browser"
		}
	}
	e := start(t, cfg)
	// 1001's SIP phone registers too: with ring "browser" it must not
	// ring.
	desk := e.agent("1001", "127.0.0.13", toneAgent)
	rung := make(chan struct{}, 1)
	go func() {
		if _, err := desk.Next(ctx(t)); err == nil {
			rung <- struct{}{}
		}
	}()
	ag := webphoneBrowser(t, toneBrowser).tab("agent")
	signIn(t, e, ag, "1001")
	if !eval[bool](ag, `document.getElementById('phone-device').disabled`) {
		t.Error("an agent can change where calls ring in the page; it is users[].ring's")
	}

	cust := e.customer()
	done := make(chan *phone.Session, 1)
	go func() {
		s, err := cust.Call(ctx(t), "100")
		if err != nil {
			t.Errorf("customer's call: %v", err)
			s = nil
		}
		done <- s
	}()
	ag.wait("the incoming call", `!document.getElementById('ringing').hidden &&
		document.getElementById('ringing-from').textContent.includes('5551234')`, 5*time.Second)
	ag.click("Answer", "#answer")
	cs := <-done
	if cs == nil {
		t.FailNow()
	}
	ag.wait("connected", `[...earshotPhone.calls.values()].some(c => c.state === 'active' && c.pc.connectionState === 'connected') &&
		!document.getElementById('hangup').hidden`, 10*time.Second)
	expectHears(t, "customer", cs, toneBrowser)
	pageHears(t, ag, "agent", toneCustomer)
	pageSilent(t, ag, "agent", toneBrowser)
	select {
	case <-rung:
		t.Error("the agent's SIP phone rang though 1001's calls ring the browser")
	default:
	}
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ag.wait("the call ended in the page", `earshotPhone.calls.size === 0 && document.getElementById('hangup').hidden &&
		document.getElementById('status').textContent.includes('Call ended')`, 3*time.Second)
}
