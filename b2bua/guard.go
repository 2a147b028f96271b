package b2bua

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Limits configure the per-source protection of the SIP listeners (the
// behaviour of Kamailio's pike and of fail2ban on Asterisk's security
// log). The zero value of a field means its default.
type Limits struct {
	// InviteRate, RegisterRate and OptionsRate are the requests per
	// second one source address may send of each method, with bursts of
	// twice that. Past them datagrams are dropped unparsed. Defaults 20,
	// 20 and 5. MESSAGE shares the OPTIONS rate (message.go).
	InviteRate, RegisterRate, OptionsRate float64
	// AuthFailures failed digest authentications from one address within
	// AuthWindow block it for BanTime: everything it sends is dropped and
	// its TCP connections refused. Defaults 10, 60s, 10m.
	AuthFailures int
	AuthWindow   time.Duration
	BanTime      time.Duration
	// LimitTrunks applies the limits to the configured sources of trunks
	// too; by default carriers are never limited.
	LimitTrunks bool
	// TCPConnections is the number of TCP/TLS connections one address may
	// hold (default 32). TCPHeaderTimeout bounds the time a new
	// connection has to deliver its first complete header block (default
	// 10s); TCPIdleTimeout closes a connection on which nothing arrived
	// for that long (default 2h, above the longest registration).
	TCPConnections   int
	TCPHeaderTimeout time.Duration
	TCPIdleTimeout   time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.InviteRate, 20)
	def(&l.RegisterRate, 20)
	def(&l.OptionsRate, 5)
	if l.AuthFailures <= 0 {
		l.AuthFailures = 10
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&l.AuthWindow, time.Minute}, {&l.BanTime, 10 * time.Minute},
		{&l.TCPHeaderTimeout, 10 * time.Second}, {&l.TCPIdleTimeout, 2 * time.Hour}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	if l.TCPConnections <= 0 {
		l.TCPConnections = 32
	}
	return l
}

// Methods the guard rate-limits, by index into source.buckets.
const (
	limitInvite = iota
	limitRegister
	limitOptions
	numLimited
)

// maxSources bounds the guard's table: under a flood from spoofed
// addresses it stops tracking new sources (and lets them through) rather
// than growing.
const maxSources = 1 << 16

// logEvery throttles the security line for a source that stays limited.
const logEvery = 10 * time.Second

// guard applies Limits to the sources SIP arrives from: it rate-limits
// datagrams by method before they are parsed, counts authentication
// failures and bans, and caps TCP connections per address. Safe for
// concurrent use; nothing on it allocates per datagram once a source is
// known.
type guard struct {
	lim    Limits
	now    func() time.Time
	exempt func(netip.Addr) bool // a trunk's source, when trunks are not limited
	log    *slog.Logger
	stats  *sipStats
	// cancelTag gives the To tag of the INVITE a CANCEL cancels
	// (cancel_tag.go); nil: CANCELs pass unchanged.
	cancelTag func(callID, fromTag string) string
	// answers answers the retransmissions of requests whose SIP stack
	// transaction has ended (answered.go).
	answers *answered
	// watch tells when earshot is behind on its SIP input, to refuse new
	// calls (overload.go); nil: never. screen looks at each new call's
	// INVITE before it is parsed, and answers it 503 while behind
	// (Server.screenInvite).
	watch  *overload
	screen func(data []byte, from, local net.Addr) bool
	// recent remembers where the datagrams handed to the parser came
	// from, to answer one it cannot parse (badrequest.go).
	recent recentDatagrams

	mu      sync.Mutex // guards sources
	sources map[netip.Addr]*source
}

// source is what the guard knows of one address.
type source struct {
	buckets   [numLimited]bucket
	fails     int       // authentication failures since failStart
	failStart time.Time //
	banned    time.Time // blocked until then
	logged    time.Time // last security line about it
	conns     int       // open TCP/TLS connections
	seen      time.Time
}

// bucket is a token bucket: rate tokens a second, at most 2·rate.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(rate float64, now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = 2 * rate
	} else {
		b.tokens = min(2*rate, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func newGuard(lim Limits, now func() time.Time, exempt func(netip.Addr) bool, log *slog.Logger, stats *sipStats) *guard {
	return &guard{lim: lim.withDefaults(), now: now, exempt: exempt, log: log, stats: stats, sources: map[netip.Addr]*source{}}
}

// lookup returns the state of ip, creating it; nil when the table is full
// of live sources. Caller holds g.mu.
func (g *guard) lookup(ip netip.Addr, now time.Time) *source {
	if src := g.sources[ip]; src != nil {
		src.seen = now
		return src
	}
	if len(g.sources) >= maxSources {
		g.sweep(now)
		if len(g.sources) >= maxSources {
			return nil
		}
	}
	src := &source{seen: now}
	g.sources[ip] = src
	return src
}

// sweep forgets sources with nothing to remember: not banned, no open
// connection, quiet for longer than the authentication window. Caller
// holds g.mu.
func (g *guard) sweep(now time.Time) {
	for ip, src := range g.sources {
		if src.conns == 0 && now.After(src.banned) && now.Sub(src.seen) > g.lim.AuthWindow {
			delete(g.sources, ip)
		}
	}
}

// limitedMethod maps a datagram to the bucket of its method, or -1 for
// anything not limited (responses, in-dialog requests but INVITE).
func limitedMethod(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte("INVITE ")):
		return limitInvite
	case bytes.HasPrefix(data, []byte("REGISTER ")):
		return limitRegister
	case bytes.HasPrefix(data, []byte("OPTIONS ")), bytes.HasPrefix(data, []byte("MESSAGE ")):
		return limitOptions
	}
	return -1
}

// admit decides whether a datagram from addr is passed to the SIP stack:
// not from a banned address, and within its method's rate.
func (g *guard) admit(addr net.Addr, data []byte) bool {
	ip := addrIP(addr)
	if !ip.IsValid() || g.exempt(ip) {
		return true
	}
	m := limitedMethod(data)
	now := g.now()
	g.mu.Lock()
	src := g.lookup(ip, now)
	if src == nil {
		g.mu.Unlock()
		return true
	}
	var reason Refusal
	switch {
	case now.Before(src.banned):
		reason = RefusedBanned
	case m >= 0 && !src.buckets[m].take(g.rate(m), now):
		reason = RefusedRateLimit
	default:
		g.mu.Unlock()
		return true
	}
	logIt := now.Sub(src.logged) >= logEvery
	if logIt {
		src.logged = now
	}
	g.mu.Unlock()
	g.stats.refuse(reason)
	if logIt {
		g.log.Warn("security: request refused", "reason", string(reason), "src", ip.String(),
			"method", methodName(data), "call_id", "")
	}
	return false
}

func (g *guard) rate(m int) float64 {
	switch m {
	case limitInvite:
		return g.lim.InviteRate
	case limitRegister:
		return g.lim.RegisterRate
	}
	return g.lim.OptionsRate
}

// authFailed counts a failed authentication from src; the AuthFailures-th
// within AuthWindow bans the address for BanTime.
func (g *guard) authFailed(src string) {
	ip := sourceIP(src)
	if !ip.IsValid() || g.exempt(ip) {
		return
	}
	now := g.now()
	g.mu.Lock()
	s := g.lookup(ip, now)
	if s == nil {
		g.mu.Unlock()
		return
	}
	if now.Sub(s.failStart) > g.lim.AuthWindow {
		s.fails, s.failStart = 0, now
	}
	s.fails++
	ban := s.fails >= g.lim.AuthFailures && !now.Before(s.banned)
	if ban {
		s.banned, s.fails, s.logged = now.Add(g.lim.BanTime), 0, now
	}
	g.mu.Unlock()
	if ban {
		g.stats.refuse(RefusedBanned)
		g.log.Warn("security: source banned", "reason", "auth_failures", "src", ip.String(),
			"ban_seconds", int(g.lim.BanTime.Seconds()))
	}
}

// banned reports whether ip is blocked now.
func (g *guard) banned(ip netip.Addr) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.sources[ip]
	return src != nil && now.Before(src.banned)
}

// methodName is the method of a datagram's request line, for the log.
func methodName(data []byte) string {
	if i := bytes.IndexByte(data, ' '); i > 0 && i <= 16 {
		return string(data[:i])
	}
	return "?"
}

// addrIP returns the IP of a transport address.
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// errBanned closes a stream connection from a banned address.
var errBanned = errors.New("b2bua: source banned")

// readFilter is the guard as sipgo's transport read filter. A datagram it
// refuses is dropped before parsing; for UDP it never returns an error,
// which would stop the listener. A stream carries messages in arbitrary
// chunks, so nothing of it is dropped: a connection from a banned address
// is closed instead (its rate is bounded by the connection cap).
func (g *guard) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if !strings.EqualFold(props.Transport, "udp") {
		if ip := addrIP(props.RemoteAddr); ip.IsValid() && g.banned(ip) {
			g.stats.refuse(RefusedBanned)
			return nil, errBanned
		}
		return data, nil
	}
	if !g.admit(props.RemoteAddr, data) {
		return nil, nil
	}
	if g.cancelTag != nil && bytes.HasPrefix(data, []byte("CANCEL ")) {
		data = tagCancel(data, g.cancelTag)
	}
	data = tightenParams(tightenColons(markVersion(data)))
	if g.answers != nil && g.answers.answer(data, props.RemoteAddr) {
		return nil, nil
	}
	if g.screen != nil && g.screen(data, props.RemoteAddr, props.LocalAddr) {
		return nil, nil
	}
	g.recent.note(props.RemoteAddr, props.LocalAddr, data)
	return data, nil
}
