package app

import (
	"bufio"
	"bytes"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"

	"github.com/earshot/earshot/config"
)

// TuneRuntime applies the collector's settings (config.Runtime), each
// unless the environment sets Go's own variable for it, and logs what
// applies. The server's process calls it before Start; Start leaves the
// runtime alone, so that a program (or a test) embedding earshot keeps
// its own settings.
func TuneRuntime(cfg config.Runtime, log *slog.Logger) {
	gcFrom, limitFrom := "config", "config"
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	} else {
		gcFrom = "GOGC"
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(cfg.MemoryLimitMiB) << 20
		if limit == 0 {
			limitFrom = "half the memory"
			limit = halfMemory("/proc/meminfo", "/sys/fs/cgroup/memory.max")
		}
		debug.SetMemoryLimit(limit)
	} else {
		limitFrom = "GOMEMLIMIT"
	}
	// What applies, read back from the runtime.
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(m)
	args := []any{"gc_percent", m[0].Value.Uint64(), "gc_percent_from", gcFrom, "memory_limit_from", limitFrom}
	if limit := m[1].Value.Uint64(); limit == math.MaxInt64 {
		args = append(args, "memory_limit", "none")
	} else {
		args = append(args, "memory_limit_mib", limit>>20)
	}
	log.Info("garbage collector", args...)
}

// halfMemory is half of the machine's memory (MemTotal of meminfo) or of
// the cgroup's limit (cgroup v2 memory.max) when that is less; no limit
// (math.MaxInt64) when neither can be read.
func halfMemory(meminfo, cgroupMax string) int64 {
	total := int64(math.MaxInt64)
	if b, err := os.ReadFile(meminfo); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			// MemTotal:       24683520 kB
			f := bytes.Fields(sc.Bytes())
			if len(f) == 3 && string(f[0]) == "MemTotal:" && string(f[2]) == "kB" {
				if kb, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil && kb > 0 {
					total = kb << 10
				}
				break
			}
		}
	}
	if b, err := os.ReadFile(cgroupMax); err == nil {
		// A number of bytes, or "max" for none.
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n > 0 && n < total {
			total = n
		}
	}
	if total == math.MaxInt64 {
		return total
	}
	return total / 2
}
