package interop

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sipp is one sipp process run from a work directory that holds its
// statistics file and any audio it plays.
type sipp struct {
	name string
	dir  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// scenario is the path of a scenario in the repository's testdata/sipp.
func scenario(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startSipp starts sipp with args in dir, writing statistics to
// dir/<name>.csv. The process is killed in t.Cleanup if still running.
func startSipp(t *testing.T, name, dir string, args ...string) *sipp {
	t.Helper()
	bin := needTool(t, "sipp")
	base := []string{"-nostdin", "-trace_err", "-error_file", filepath.Join(dir, name+"_errors.log"),
		"-trace_stat", "-stf", filepath.Join(dir, name+".csv"), "-fd", "1"}
	s := &sipp{name: name, dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, append(base, args...)...)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			errs, _ := os.ReadFile(filepath.Join(dir, name+"_errors.log"))
			t.Logf("sipp %s errors:\n%s", name, tail(string(errs), 4096))
		}
	})
	return s
}

// wait waits for sipp to exit and returns its exit code: 0 when every call
// succeeded, 1 when at least one failed, 99 when no call was processed.
func (s *sipp) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		_ = s.cmd.Process.Signal(syscall.SIGUSR1) // sipp dumps and ends
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		t.Errorf("sipp %s did not finish within %v", s.name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		t.Fatalf("sipp %s: %v", s.name, s.err)
	}
	return 0
}

// stats returns the cumulative counters of sipp's last statistics line,
// keyed by column name such as "SuccessfulCall(C)".
func (s *sipp) stats(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, s.name+".csv"))
	if err != nil {
		t.Fatalf("sipp %s statistics: %v", s.name, err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		t.Fatalf("sipp %s statistics have no data line:\n%s", s.name, b)
	}
	keys := strings.Split(lines[0], ";")
	vals := strings.Split(lines[len(lines)-1], ";")
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		if i < len(vals) {
			m[k] = vals[i]
		}
	}
	return m
}

// count is an integer statistic.
func (s *sipp) count(t *testing.T, key string) int {
	t.Helper()
	v, ok := s.stats(t)[key]
	if !ok {
		t.Fatalf("sipp %s statistics have no column %q", s.name, key)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		t.Fatalf("sipp %s %s = %q: %v", s.name, key, v, err)
	}
	return n
}

// waitBound waits until something has bound UDP addr, the sign that a
// child process is listening; the probe releases the port at once when it
// is still free.
func waitBound(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return
		}
		pc.Close()
		select {
		case <-ctx.Done():
			t.Fatalf("nothing bound %s within %v", addr, timeout)
		case <-tick.C:
		}
	}
}

// addr joins an IP and a port.
func addr(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
