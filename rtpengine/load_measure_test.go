package rtpengine

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/mixer"
)

// loadSample is what the load measurement reads at the edges of a window.
type loadSample struct {
	at      time.Time
	proc    time.Duration // process CPU
	phones  time.Duration // the pacer's sender threads' CPU
	stats   Stats
	late    uint64 // pacer slots sent late
	sendErr uint64
	sent    uint64
	busy    time.Duration // CPU time of the whole machine (all processes)
}

func sampleLoad(t testing.TB, e *Engine, p *pacer) loadSample {
	late, errs, sent := p.health()
	return loadSample{at: time.Now(), proc: processCPU(t), phones: p.cpu(), stats: e.Stats(),
		late: late, sendErr: errs, sent: sent, busy: machineBusy()}
}

// loadResult is one step of the ramp: the differences over its window.
type loadResult struct {
	calls, mixed, legs int
	wall               time.Duration
	ticks, skipped     uint64
	mean, p50, p99     time.Duration // tick lateness; p50 and p99 are bucket upper bounds
	within2ms          float64       // share of ticks at most 2 ms late
	outMean, outP99    time.Duration // output lateness: the tick's last frame written
	sent               uint64        // packets the phones sent
	pushed, frames     uint64        // audio packets into the mixer, frames it sent
	mixerFull          uint64        // audio the mixer's inbox had no room for
	otherDrops         uint64        // any other drop counted by the engine
	phoneLate, sendErr uint64
	earshot, phones    time.Duration // CPU
	others             time.Duration // CPU of every other process on the machine
}

// measureLoad samples the engine and the phones before and after window.
func measureLoad(t testing.TB, e *Engine, p *pacer, calls int, window time.Duration) loadResult {
	a := sampleLoad(t, e, p)
	<-time.After(window)
	b := sampleLoad(t, e, p)
	r := loadResult{calls: calls, mixed: b.stats.MixedSessions, legs: b.stats.Mixer.Legs, wall: b.at.Sub(a.at)}
	ma, mb := a.stats.Mixer, b.stats.Mixer
	r.ticks, r.skipped = mb.Ticks-ma.Ticks, mb.SkippedTicks-ma.SkippedTicks
	r.mean, r.p50, r.p99, r.within2ms = latenessDelta(ma.TickLateness, mb.TickLateness)
	r.outMean, _, r.outP99, _ = latenessDelta(ma.OutputLateness, mb.OutputLateness)
	r.sent = b.sent - a.sent
	r.pushed = b.stats.MixerPackets - a.stats.MixerPackets
	r.frames = b.stats.MixerFrames - a.stats.MixerFrames
	r.mixerFull = b.stats.Dropped.MixerFull - a.stats.Dropped.MixerFull
	da, db := a.stats.Dropped, b.stats.Dropped
	r.otherDrops = (db.Source + db.Malformed + db.NoDestination + db.WriteError + db.NotMixed) -
		(da.Source + da.Malformed + da.NoDestination + da.WriteError + da.NotMixed)
	r.phoneLate, r.sendErr = b.late-a.late, b.sendErr-a.sendErr
	r.phones = b.phones - a.phones
	r.earshot = (b.proc - a.proc) - r.phones
	r.others = max(0, (b.busy-a.busy)-(b.proc-a.proc))
	return r
}

// latenessDelta reads the distribution of the ticks observed between two
// snapshots of the lateness histogram: the mean, the upper bounds of the
// buckets holding the median and the 99th percentile (-1 for the +Inf
// bucket), and the share of ticks at most 2 ms late.
func latenessDelta(a, b mixer.Histogram) (mean, p50, p99 time.Duration, within2ms float64) {
	n := b.Count - a.Count
	if n == 0 {
		return 0, 0, 0, 0
	}
	mean = (b.Sum - a.Sum) / time.Duration(n)
	quantile := func(q float64) time.Duration {
		var cum uint64
		for i := range b.Counts {
			if cum += b.Counts[i] - a.Counts[i]; float64(cum) >= q*float64(n) {
				if i < len(b.Bounds) {
					return b.Bounds[i]
				}
				return -1
			}
		}
		return -1
	}
	var cum uint64
	for i, bound := range b.Bounds {
		if bound <= 2*time.Millisecond {
			cum += b.Counts[i] - a.Counts[i]
		}
	}
	return mean, quantile(0.5), quantile(0.99), float64(cum) / float64(n)
}

const loadHeader = "| calls | ticks | skipped | lateness mean | p50 ≤ | p99 ≤ | ticks ≤ 2 ms | last frame mean | last frame p99 ≤ | packets in/s (offered) | mixed in/s | frames out/s | inbox drops | other drops | phones late | earshot CPU (cores) | phones CPU (cores) | earshot/phones | earshot CPU per call (% core) | other processes (cores) |"

// row formats r as a line of the table in docs/performance.md.
func (r loadResult) row() string {
	sec := r.wall.Seconds()
	bound := func(d time.Duration) string {
		if d < 0 {
			return "> 100ms"
		}
		return d.String()
	}
	ratio, perCall := "–", "–"
	if r.phones > 0 {
		ratio = fmt.Sprintf("%.2f", float64(r.earshot)/float64(r.phones))
	}
	if r.calls > 0 {
		perCall = fmt.Sprintf("%.3f", 100*r.earshot.Seconds()/sec/float64(r.calls))
	}
	return fmt.Sprintf("| %d | %d | %d | %v | %s | %s | %.2f %% | %v | %s | %.0f (%d) | %.0f | %.0f | %d | %d | %d | %.2f | %.2f | %s | %s | %.2f |",
		r.calls, r.ticks, r.skipped, r.mean.Round(time.Microsecond), bound(r.p50), bound(r.p99), 100*r.within2ms,
		r.outMean.Round(time.Microsecond), bound(r.outP99),
		float64(r.sent)/sec, 150*r.calls, float64(r.pushed)/sec, float64(r.frames)/sec,
		r.mixerFull, r.otherDrops, r.phoneLate,
		r.earshot.Seconds()/sec, r.phones.Seconds()/sec, ratio, perCall, r.others.Seconds()/sec)
}

// machineBusy is the non-idle CPU time of all CPUs since boot, from the
// first line of /proc/stat (user, nice, system, irq, softirq, steal), so
// that a step can show how much of the machine other processes took. Zero
// if /proc/stat cannot be read.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// addrPortOf is earshot's RTP address of l.
func addrPortOf(l *leg) netip.AddrPort { return netip.AddrPortFrom(loopback, l.port) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
func numCPU() int       { return runtime.NumCPU() }
