//go:build linux

package mixer

import (
	"time"

	"golang.org/x/sys/unix"
)

// A worker's tick is due at an absolute time, and a Go timer cannot wake it
// there: the runtime waits for timers in epoll_wait, whose timeout is whole
// milliseconds, so a 19.4 ms wait becomes 19 ms and then 1 ms more and the
// tick starts up to a millisecond late (about 0.5 ms on average, with no
// load at all). That is a quarter of the 2 ms lateness budget spent before
// any work. A worker instead waits on a Go timer until shortly before the
// deadline and sleeps the rest in clock_nanosleep to the absolute deadline.
// Only that last stretch is a blocking system call: one that lasts the
// whole 20 ms makes the runtime's monitor take the worker's P away every
// tick, which keeps the monitor polling at its shortest period, measurably
// busier than the timer.

// coarse is how long before the deadline the Go timer wakes the worker: it
// wakes up to 1 ms after its own deadline, so this leaves at least 1 ms to
// sleep precisely.
const coarse = 2 * time.Millisecond

// sleepUntil blocks until deadline. The last stretch is precise to the
// kernel's default timer slack (50 µs) on whichever thread runs the worker.
func sleepUntil(deadline time.Time) {
	if wait := time.Until(deadline) - coarse; wait > 0 {
		time.Sleep(wait)
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return
	}
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		time.Sleep(wait)
		return
	}
	at := unix.NsecToTimespec(unix.TimespecToNsec(now) + int64(wait))
	// The runtime's preemption signals interrupt the sleep (EINTR); the
	// deadline is absolute, so sleeping again loses nothing.
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &at, nil) == unix.EINTR {
	}
}
