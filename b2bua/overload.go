package b2bua

import (
	"log/slog"
	"math"
	"net"
	"sync/atomic"
	"time"
)

// Overload configures how earshot sheds new calls when it falls behind
// its SIP input. The zero value of a field means its default.
type Overload struct {
	// MaxDelay is the longest a UDP datagram may wait in its socket
	// before earshot reads it, at the least, over a whole Interval: past
	// it new calls get 503 with Retry-After until an Interval's least wait
	// is back under it. Default 100ms.
	MaxDelay time.Duration
	// Interval is the window the least wait is taken over. Default 200ms.
	Interval time.Duration
	// Disabled never refuses a call for the input's delay.
	Disabled bool
}

// minBehindReads is how many datagrams a window must have read to be
// behind: a standing queue is a queue. With a few datagrams a window (a
// quiet site, a test), one scheduling hiccup of a loaded machine would
// otherwise refuse the next call; an overload worth shedding reads
// hundreds.
const minBehindReads = 8

// Overload defaults: a wait that long for every datagram of a window is a
// standing queue, not a burst, and well under T1 (500 ms), past which the
// callers start retransmitting and the queue feeds itself.
const (
	defaultOverloadDelay    = 100 * time.Millisecond
	defaultOverloadInterval = 200 * time.Millisecond
)

// A server that cannot keep up with its calls makes every call worse:
// requests wait in the socket, callers retransmit them, which is more to
// read, and calls that do get through take longer, so more are in
// progress at once, until every agent is busy, callers queue with music
// the machine cannot afford and nothing completes (docs/performance.md,
// "Overload"). overload watches how long SIP datagrams waited in their
// socket before earshot read them (the kernel's receive timestamp against
// the time of the read), and says earshot is behind while, over a whole
// window of at least minBehindReads datagrams, even the datagram read
// soonest after it arrived had waited longer than the bound: CoDel's test
// for a standing queue (RFC 8289), which a burst that drains within the
// window never passes. While behind, new calls are refused at once with
// 503, a few tens of microseconds each, so the backlog drains, the calls
// already up finish, and a carrier fails the refused calls over to
// another route instead of waiting on this one. In-dialog requests (BYE,
// ACK, re-INVITE) are never refused: they end calls and free what calls
// hold.
//
// All or nothing is on purpose. Refusing a share of new calls cut in
// proportion to the wait and grown back a little each window (the
// loss-based control of RFC 7339) was tried: it came back slowly after a
// passing hiccup, refusing calls for seconds a machine could by then
// carry, and carried fewer calls than this in the same benchmark
// (docs/performance.md, "Overload").
type overload struct {
	maxDelay, interval int64            // ns
	now                func() time.Time // the server's clock (Config.Now)
	log                *slog.Logger

	minReads int64 // reads a window needs to be behind (minBehindReads)

	start  atomic.Int64 // the current window's start, Unix ns
	least  atomic.Int64 // the least wait read in it, ns
	reads  atomic.Int64 // datagrams read in it
	last   atomic.Int64 // the least wait of the last window closed, ns
	behind atomic.Bool
	warned atomic.Int64 // when the last "behind" line was logged, Unix ns
	logged atomic.Bool  // that line was logged for the current turn
}

// newOverload returns the watch; nil when o is disabled.
func newOverload(o Overload, now func() time.Time, log *slog.Logger) *overload {
	if o.Disabled {
		return nil
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = defaultOverloadDelay
	}
	if o.Interval <= 0 {
		o.Interval = defaultOverloadInterval
	}
	w := &overload{maxDelay: int64(o.MaxDelay), interval: int64(o.Interval), now: now, log: log, minReads: minBehindReads}
	w.start.Store(now().UnixNano())
	w.least.Store(math.MaxInt64)
	return w
}

// observe notes a datagram that arrived at arrived and was read at now
// (Unix ns). Safe for concurrent use by several listeners' readers; it
// neither allocates nor locks.
func (w *overload) observe(arrived, now int64) {
	wait := max(now-arrived, 0) // a clock stepped back: no wait
	start := w.start.Load()
	if now-start >= w.interval && w.start.CompareAndSwap(start, now) {
		// This read closes the window and counts in it (and opens the
		// next). A window a stalled reader read nothing in is not behind
		// (too few reads), the backlog it reads next is.
		least := min(w.least.Swap(wait), wait)
		reads := w.reads.Swap(1) + 1
		w.last.Store(least)
		behind := least > w.maxDelay && reads >= w.minReads
		if w.behind.Swap(behind) != behind {
			w.logTurn(behind, least, now)
		}
		return
	}
	w.reads.Add(1)
	for {
		l := w.least.Load()
		if wait >= l || w.least.CompareAndSwap(l, wait) {
			return
		}
	}
}

// logTurn logs the watch going behind, at most once every logEvery (under
// a lasting overload it turns every second or two), and its catching up
// after each turn it logged.
func (w *overload) logTurn(behind bool, least, now int64) {
	if w.log == nil {
		return
	}
	if !behind {
		if w.logged.Swap(false) {
			w.log.Info("SIP input caught up: taking new calls", "least_wait", time.Duration(least))
		}
		return
	}
	if last := w.warned.Load(); now-last < int64(logEvery) || !w.warned.CompareAndSwap(last, now) {
		return
	}
	w.logged.Store(true)
	w.log.Warn("SIP input behind: refusing new calls with 503",
		"least_wait", time.Duration(least), "max_delay", time.Duration(w.maxDelay),
		"next_line_after", logEvery)
}

// shed reports whether a new call is to be refused now. A nil watch
// never sheds.
func (w *overload) shed() bool {
	return w != nil && w.behind.Load()
}

// lastWait is the least wait of the last window closed (zero for a nil
// watch or before the first).
func (w *overload) lastWait() time.Duration {
	if w == nil {
		return 0
	}
	return time.Duration(w.last.Load())
}

// stampingConn is a UDP SIP socket whose reads tell the overload watch
// how long each datagram waited in the socket. sipgo reads each listener
// from one goroutine, so one control buffer serves every read.
type stampingConn struct {
	*net.UDPConn
	watch *overload
	oob   []byte
}

func (c *stampingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, oobn, _, addr, err := c.ReadMsgUDP(b, c.oob)
	if err != nil {
		return n, nil, err
	}
	if at, ok := arrival(c.oob[:oobn]); ok {
		c.watch.observe(at, c.watch.now().UnixNano())
	}
	return n, addr, nil
}
