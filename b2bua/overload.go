package b2bua

import (
	"bytes"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
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
// 503, before they are parsed (screenInvite), so the backlog drains, the
// calls already up finish, and a carrier fails the refused calls over to
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
	// inStack holds the new calls' INVITEs handed to the SIP stack in the
	// linger, by transaction key, with their source (screenInvite).
	inStack *lingering[netip.AddrPort]

	warned atomic.Int64 // when the last "behind" line was logged, Unix ns
	logged atomic.Bool  // that line was logged for the current turn
}

// newOverload returns the watch; nil when o is disabled.
func newOverload(o Overload, now func() time.Time, log *slog.Logger, linger time.Duration) *overload {
	if o.Disabled {
		return nil
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = defaultOverloadDelay
	}
	if o.Interval <= 0 {
		o.Interval = defaultOverloadInterval
	}
	w := &overload{maxDelay: int64(o.MaxDelay), interval: int64(o.Interval), now: now, log: log, minReads: minBehindReads,
		inStack: newLingering[netip.AddrPort](linger, now, maxAnswered)}
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

// screenInvite is the read filter's look at a new call's INVITE (a To
// without a tag), from from to local, before it is parsed. While earshot
// keeps up it notes the INVITE as handed to the SIP stack; while it is
// behind it refuses one it has not handed over (refuseUnparsed) and
// reports true. One it has handed over is a retransmission, which the
// stack's transaction absorbs: refusing it would answer 503 to a call in
// progress.
func (s *Server) screenInvite(data []byte, from, local net.Addr) bool {
	w := s.guard.watch
	if w == nil || !bytes.HasPrefix(data, inviteSP) || !newDialog(data) {
		return false
	}
	var kb [keyBuf]byte
	key, _, ok := transactionKey(kb[:0], data)
	if !ok {
		return false
	}
	src := addrPort(from)
	if !w.shed() {
		w.inStack.put(string(key), src)
		return false
	}
	if p, seen := w.inStack.get(key); seen && p == src {
		return false
	}
	return s.refuseUnparsed(data, from, local)
}

// refuseUnparsed answers 503 to data, a new call's INVITE from from to
// local, before the SIP stack parses it: while earshot is behind,
// refusing must cost as little as it can, and the stack's way — a parse,
// a goroutine, a transaction with its timers — costs a quarter of a
// whole call (BenchmarkRefusal). The answer is stateless, as Kamailio's
// sl module answers: the answered table keeps it for the linger, and a
// retransmitted INVITE, which the caller sends if this 503 is lost, gets
// it again from there (answered.answer), which also drops the caller's
// ACK. An INVITE it cannot read for certain (a missing header) is left
// to the stack, which refuses it the parsed way (Server.admit).
func (s *Server) refuseUnparsed(data []byte, from, local net.Addr) bool {
	res, ok := answerFor(string(data), "503 Service Unavailable", "SIP/2.0/")
	if !ok {
		return false
	}
	pc := s.sip.packetConn(local)
	if pc == nil {
		return false
	}
	end := len(res) - len(contentLength0)
	res = append(res[:end:end], "Retry-After: "...)
	res = strconv.AppendInt(res, int64(max(1, int(s.cfg.RetryAfter.Seconds()))), 10)
	res = append(res, "\r\nServer: "...)
	res = append(res, s.cfg.UserAgent...)
	res = append(res, "\r\n"+contentLength0...)
	// Recorded before it is sent, as answeringConn does: the caller may
	// retransmit at once.
	s.guard.answers.record(pc, res, from, true)
	_, _ = pc.WriteTo(res, from) // lost: the retransmission finds it kept
	s.stats.request("INVITE")
	s.stats.loadRefuse(LoadBehind)
	s.stats.response(503)
	return true
}

// contentLength0 ends the responses answerFor builds.
const contentLength0 = "Content-Length: 0\r\n\r\n"

// newDialog reports whether the request msg has a To header without a
// tag: a request outside any dialog. It is sure or says no: a To it
// cannot find, or any To (or a line folded into one) holding "tag"
// anywhere, in any case, is not new. It does not allocate.
func newDialog(msg []byte) bool {
	_, rest, ok := cutLine(msg)
	if !ok {
		return false
	}
	to, inTo := false, false
	for {
		var line []byte
		if line, rest, ok = cutLine(rest); !ok {
			return false // no end of the headers
		}
		if len(line) == 0 {
			return to
		}
		if line[0] == ' ' || line[0] == '\t' {
			if inTo && holdsTag(line) {
				return false
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		inTo = bytes.EqualFold(name, []byte("to")) || bytes.EqualFold(name, []byte("t"))
		if inTo {
			if holdsTag(value) {
				return false
			}
			to = true
		}
	}
}

// holdsTag reports whether b holds "tag" in any case.
func holdsTag(b []byte) bool {
	for i := 0; i+3 <= len(b); i++ {
		if bytes.EqualFold(b[i:i+3], []byte("tag")) {
			return true
		}
	}
	return false
}
