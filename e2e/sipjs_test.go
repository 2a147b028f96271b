package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// sipjsVersion is the SIP.js release the interop test loads; its ES
// modules run in chromium as they are, with no bundler.
// scripts/install-deps.sh fetches it (npm pack) into .cache.
const sipjsVersion = "0.21.2"

// sipjsDir is where the SIP.js package's lib/ is, or the test fails with
// how to get it.
func sipjsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("EARSHOT_SIPJS")
	if dir == "" {
		dir = filepath.Join("..", ".cache", "sipjs-"+sipjsVersion, "package")
	}
	if _, err := os.Stat(filepath.Join(dir, "lib", "index.js")); err != nil {
		t.Fatalf("SIP.js %s not found in %s: the web softphone interop test runs the real library; "+
			"run scripts/install-deps.sh (needs npm) or set EARSHOT_SIPJS to an unpacked sip.js package", sipjsVersion, dir)
	}
	return dir
}

// sipjsPage is a web softphone built on SIP.js's UserAgent, Registerer
// Inviter and Invitation, as a contact centre's own page would be: it
// registers with the user's SIP password over earshot's WebSocket,
// answers every call with the microphone, dials ?dial= once registered,
// and measures what it hears.
const sipjsPage = `<!doctype html><meta charset="utf-8"><title>SIP.js phone</title>
<script type="module">
import { UserAgent, Registerer, Inviter } from "/sipjs/lib/index.js";
const p = new URLSearchParams(location.search);
window.phone = { state: "starting", calls: 0, callState: "" };
let analyser, ctx;
window.phone.level = (hz) => {
  if (!analyser) return -200;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  return Math.max(-200, bins[Math.round(hz * analyser.fftSize / ctx.sampleRate)]);
};
function follow(session) {
  window.phone.call = session;
  session.stateChange.addListener(s => {
    window.phone.callState = s;
    if (s === "Established") listen(session.sessionDescriptionHandler.peerConnection);
  });
}
const media = { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } };
function listen(pc) {
  const track = pc.getReceivers().map(r => r.track).find(t => t && t.kind === "audio");
  const stream = new MediaStream([track]);
  const el = new Audio(); el.srcObject = stream; el.muted = true; el.play(); // Chromium feeds WebAudio only a played remote stream
  ctx = new AudioContext();
  analyser = ctx.createAnalyser(); analyser.fftSize = 8192; analyser.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(stream).connect(analyser);
}
const ua = new UserAgent({
  uri: UserAgent.makeURI("sip:" + p.get("user") + "@" + p.get("domain")),
  transportOptions: { server: p.get("ws") },
  authorizationUsername: p.get("user"),
  authorizationPassword: p.get("password"),
  logBuiltinEnabled: false,
  sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] }, iceGatheringTimeout: 500 },
  delegate: {
    onInvite(inv) {
      window.phone.calls++;
      follow(inv);
      inv.accept(media);
    },
  },
});
try {
  await ua.start();
  const reg = new Registerer(ua);
  reg.stateChange.addListener(s => { window.phone.state = s; });
  await reg.register();
  if (p.get("dial")) {
    const inviter = new Inviter(ua, UserAgent.makeURI("sip:" + p.get("dial") + "@" + p.get("domain")), media);
    follow(inviter);
    await inviter.invite();
  }
} catch (e) {
  window.phone.state = "error: " + e;
}
</script>`

// sipjsPhone serves the SIP.js page (from a server of its own: another
// origin than earshot's, as a contact centre's own page would be) and
// opens it in chromium as user, dialing dial once registered ("": none).
func sipjsPhone(t *testing.T, e *env, dir, user, dial string) *tab {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sipjs/", http.StripPrefix("/sipjs/", http.FileServer(http.Dir(dir))))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, sipjsPage)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	tb := webphoneBrowser(t, toneBrowser).tab("SIP.js " + user)
	q := url.Values{"user": {user}, "password": {"demo"}, "domain": {"demo"}, "ws": {"ws://" + e.app.HTTPAddr + "/sip"}}
	if dial != "" {
		q.Set("dial", dial)
	}
	tb.do("open the SIP.js phone", 5*time.Second, chromedp.Navigate("http://"+ln.Addr().String()+"/?"+q.Encode()))
	tb.wait("SIP.js registered", `window.phone && window.phone.state === 'Registered'`, 10*time.Second)
	return tb
}

// sipjsHears waits until the SIP.js page hears hz.
func sipjsHears(t *testing.T, tb *tab, who string, hz float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for level := -200.0; ; {
		if level = eval[float64](tb, fmt.Sprintf("window.phone.level(%g)", hz)); level >= pageHeard {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hear %.0f Hz: %.1f dB", who, hz, level)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sipjsSilent checks that the SIP.js page does not hear hz.
func sipjsSilent(t *testing.T, tb *tab, who string, hz float64) {
	t.Helper()
	for range 10 {
		if level := eval[float64](tb, fmt.Sprintf("window.phone.level(%g)", hz)); level > pageAbsent {
			t.Fatalf("%s hears %.0f Hz at %.1f dB", who, hz, level)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIPjsAgentTakesCall: an agent's web softphone made with SIP.js (the
// library, unmodified, in headless chromium with a fake microphone)
// registers over earshot's /sip with digest, is rung by a customer's call
// to the support group, answers, and the two hear each other; its hang-up
// ends the call.
func TestSIPjsAgentTakesCall(t *testing.T) {
	dir := sipjsDir(t)
	e := start(t, testConfig(t))

	tb := sipjsPhone(t, e, dir, "1001", "")
	if !e.app.SIP.Registered("demo", "1001") {
		t.Fatal("earshot has no binding for 1001")
	}

	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("the customer's call: %v", err)
	}
	tb.wait("the SIP.js phone answered", `window.phone.callState === 'Established'`, 10*time.Second)
	expectHears(t, "customer", cs, toneBrowser)
	sipjsHears(t, tb, "the SIP.js agent", toneCustomer)
	sipjsSilent(t, tb, "the SIP.js agent", toneBrowser)
	if n := eval[float64](tb, "window.phone.calls"); n != 1 {
		t.Errorf("the SIP.js phone was rung %v times", n)
	}

	// The agent hangs up in the page: the customer's call ends.
	if !eval[bool](tb, `window.phone.call.bye().then(() => true)`) {
		t.Fatal("the SIP.js phone could not hang up")
	}
	waitEnded(t, "customer", cs)
}

// TestSIPjsSupervisorListens: a supervisor's SIP.js phone dials the listen
// feature code with the agent's extension (its own WebRTC offer through
// earshot, as any softphone's): it hears the customer and the agent,
// neither hears it nor receives a SIP request, and its hang-up leaves the
// call as it was.
func TestSIPjsSupervisorListens(t *testing.T) {
	dir := sipjsDir(t)
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	customer := e.customer()
	cs, as := customerToAgent(t, customer, agent)
	answeredCalls(t, e, 1)
	custReqs, agentReqs := customer.Requests(), agent.Requests()

	tb := sipjsPhone(t, e, dir, "2001", "*11001")
	tb.wait("the listen call established", `window.phone.callState === 'Established'`, 10*time.Second)
	sipjsHears(t, tb, "the SIP.js supervisor", toneCustomer)
	sipjsHears(t, tb, "the SIP.js supervisor", toneAgent)
	sipjsSilent(t, tb, "the SIP.js supervisor", toneBrowser)
	expectSilent(t, "customer (listen)", cs, toneBrowser)
	expectSilent(t, "agent (listen)", as, toneBrowser)
	if n := len(e.app.SIP.Supervisions()); n != 1 {
		t.Fatalf("%d supervisions, want 1", n)
	}

	if !eval[bool](tb, `window.phone.call.bye().then(() => true)`) {
		t.Fatal("the SIP.js phone could not hang up")
	}
	waitFor(t, "the supervision to end", func() bool { return len(e.app.SIP.Supervisions()) == 0 })
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent", as, toneCustomer)
	if n, m := customer.Requests()-custReqs, agent.Requests()-agentReqs; n != 0 || m != 0 {
		t.Errorf("SIP requests to the parties while SIP.js listened: customer %d, agent %d; want none", n, m)
	}
	if err := cs.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "agent", as)
}
