package control

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/earshot/earshot/b2bua"
)

// crashDirEnv makes the test binary a child that serves the API on its data
// directory until it is killed (see TestMain).
const crashDirEnv = "EARSHOT_CONTROL_CRASH_DIR"

const crashCalls = 400

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

func crashSwitch() *fakeSwitch {
	sw := newFakeSwitch()
	for i := range crashCalls {
		sw.add(call(fmt.Sprintf("k%d", i), "acme", "support", "100", "1001", b2bua.StateAnswered))
	}
	return sw
}

// crashChild serves until SIGKILL; it prints its address on stdout.
func crashChild(dir string) int {
	svc, err := New(Config{Tenants: testTenants(), DataDir: dir, Switchboard: crashSwitch()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	srv := &http.Server{Handler: svc.Handler()}
	ConfigureServer(srv)
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	return 1
}

// TestDurabilityAcrossKill: every help request acknowledged by a child
// process is on disk after the child is killed with SIGKILL mid-traffic.
func TestDurabilityAcrossKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child said %q: %v", line, err)
	}
	base := "http://" + strings.TrimSpace(strings.TrimPrefix(line, "ADDR ")) + "/api/v1"

	var mu sync.Mutex
	var acked []string
	killAt := crashCalls / 2
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"call_id":"k%d"}`, i)
				req, _ := http.NewRequest("POST", base+"/help-requests", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tokAgent)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // the child is gone: this one was never acknowledged
				}
				var h HelpRequest
				derr := json.NewDecoder(res.Body).Decode(&h)
				res.Body.Close()
				if res.StatusCode != 201 || derr != nil {
					continue
				}
				mu.Lock()
				acked = append(acked, h.ID)
				n := len(acked)
				mu.Unlock()
				if n == killAt {
					once.Do(func() {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		})
	}
	for i := range crashCalls {
		next <- i
	}
	close(next)
	wg.Wait()
	<-killed
	_ = cmd.Wait()
	if len(acked) < killAt {
		t.Fatalf("only %d acknowledged", len(acked))
	}

	f := &fixture{t: t, sw: crashSwitch(), dir: dir}
	f.setNow(t0)
	f.open()
	var page AuditPage
	f.must(200, "GET", "/api/v1/audit?action="+ActionHelpOpened+"&limit=1000", tokSup, "").decode(t, &page)
	opened := map[string]bool{}
	for _, r := range page.Records {
		opened[r.HelpRequestID] = true
	}
	for _, id := range acked {
		var h HelpRequest
		f.must(200, "GET", "/api/v1/help-requests/"+id, tokSup, "").decode(t, &h)
		if h.Status != HelpClosed || h.CloseReason != CloseRestart {
			t.Errorf("%s after restart: %+v", id, h)
		}
		if !opened[id] {
			t.Errorf("%s: audit record lost", id)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, all present", len(acked))
}
