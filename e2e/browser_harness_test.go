package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// browser is a headless Debian chromium driven over the DevTools protocol.
// Each tab it opens lives in its own browser context: separate cookies,
// like two people's browsers.
type browser struct {
	t   *testing.T
	ctx context.Context // the browser's first tab
}

// newBrowser starts chromium with a fresh profile, and flags added to the
// usual ones. A missing chromium fails the test: the workspace is only
// proven in a real browser, and CI installs it (scripts/install-deps.sh).
func newBrowser(t *testing.T, flags ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: the workspace tests drive a real browser; install Debian's chromium " +
			"(apt-get install chromium, or scripts/install-deps.sh)")
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Two tabs are on show at once here, as two people's screens
		// would be: neither may be throttled as a background tab.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}, flags...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// tab is one page in its own browser context.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func (b *browser) tab(name string) *tab {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: new tab: %v", name, err)
	}
	return &tab{t: b.t, name: name, ctx: ctx}
}

// do runs steps, failing the test after timeout.
func (tb *tab) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %s: %v\npage: %s", tb.name, what, err, tb.text())
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// text is what the page shows (hidden parts excluded), for failure reports.
func (tb *tab) text() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// wait polls a JavaScript predicate until it holds, failing after timeout.
func (tb *tab) wait(what, predicate string, timeout time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingInterval(10*time.Millisecond)))
	if err != nil {
		tb.t.Fatalf("%s: %s within %v: %v\npage: %s", tb.name, what, timeout, err, tb.text())
	}
}

// click clicks the element a CSS selector finds, as a user's mouse would.
func (tb *tab) click(what, sel string) {
	tb.t.Helper()
	tb.do("click "+what, 3*time.Second, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// choose picks a select's option the way a user does (the change event
// fires).
func (tb *tab) choose(sel, value string) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
		s.dispatchEvent(new Event('change')); return true })()`, sel, value))
}

// screenshot writes a PNG of the whole page.
func (tb *tab) screenshot(path string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil && !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		err = errors.New("not a PNG")
	}
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.name, path, err)
	}
}

// timezone makes the page run in zone, as a browser elsewhere would.
func timezone(zone string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	})
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(errors.New("unquotable string"))
	}
	return string(b)
}
