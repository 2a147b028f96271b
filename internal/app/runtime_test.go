package app

import (
	"bytes"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/earshot/earshot/config"
)

// TestHalfMemory: half of MemTotal, or of the cgroup's limit when that is
// less; "max" is no limit; nothing readable is no limit at all.
func TestHalfMemory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meminfo := write("meminfo", "MemTotal:        2097152 kB\nMemFree:          100000 kB\n")
	for _, tc := range []struct {
		name, meminfo, cgroup string
		want                  int64
	}{
		{"machine, cgroup without limit", meminfo, write("max", "max\n"), 1 << 30},
		{"cgroup below the machine", meminfo, write("lower", "536870912\n"), 256 << 20},
		{"cgroup above the machine", meminfo, write("higher", "8589934592\n"), 1 << 30},
		{"no cgroup file", meminfo, filepath.Join(dir, "none"), 1 << 30},
		{"only the cgroup", filepath.Join(dir, "none"), write("only", "1073741824"), 512 << 20},
		{"nothing readable", filepath.Join(dir, "none"), filepath.Join(dir, "none"), math.MaxInt64},
		{"garbage", write("bad", "MemTotal: lots kB\n"), write("badcg", "plenty\n"), math.MaxInt64},
	} {
		if got := halfMemory(tc.meminfo, tc.cgroup); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestTuneRuntime: the config's collector settings apply and are logged;
// GOGC or GOMEMLIMIT in the environment keeps the config's value from
// applying.
func TestTuneRuntime(t *testing.T) {
	gc0, limit0 := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(gc0); debug.SetMemoryLimit(limit0) })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	TuneRuntime(config.Runtime{GCPercent: 400, MemoryLimitMiB: 300}, log)
	if gc := debug.SetGCPercent(100); gc != 400 {
		t.Errorf("gc percent %d, want 400", gc)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != 300<<20 {
		t.Errorf("memory limit %d, want %d", l, 300<<20)
	}
	if s := logs.String(); !strings.Contains(s, "gc_percent=400 gc_percent_from=config") || !strings.Contains(s, "memory_limit_mib=300") {
		t.Errorf("log: %s", s)
	}

	// The environment's variables win: the runtime read them at start,
	// and the config leaves what they set.
	logs.Reset()
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	TuneRuntime(config.Runtime{GCPercent: 400, MemoryLimitMiB: 300}, log)
	if gc := debug.SetGCPercent(100); gc != 100 {
		t.Errorf("gc percent %d with GOGC set, want it left at 100", gc)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != math.MaxInt64 {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left alone", l)
	}
	if s := logs.String(); !strings.Contains(s, "gc_percent_from=GOGC") || !strings.Contains(s, "memory_limit_from=GOMEMLIMIT") {
		t.Errorf("log: %s", s)
	}

	// 0: half the machine's memory, whatever this machine has.
	logs.Reset()
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	TuneRuntime(config.Runtime{GCPercent: 200}, log)
	want := halfMemory("/proc/meminfo", "/sys/fs/cgroup/memory.max")
	if l := debug.SetMemoryLimit(math.MaxInt64); l != want {
		t.Errorf("memory limit %d, want half the memory, %d", l, want)
	}
	if s := logs.String(); !strings.Contains(s, "memory_limit_from=\"half the memory\"") {
		t.Errorf("log: %s", s)
	}
}
