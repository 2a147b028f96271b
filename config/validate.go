package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// minSessionExpires is the smallest session interval RFC 4028 allows (its
// Min-SE floor).
const minSessionExpires = 90 * time.Second

// A completed transaction stays at least a second, for a response lost
// once, and at most RFC 3261's 64·T1 (T1 = 500 ms), past which no
// retransmission comes.
const (
	minTransactionLinger = time.Second
	maxTransactionLinger = 32 * time.Second
	// sip.overload's bounds: under 10 ms the scheduler's own delays read
	// as overload; past 10 s callers have given up long before.
	minOverloadWindow = 10 * time.Millisecond
	maxOverloadWindow = 10 * time.Second
)

// Validate checks the configuration as it is, without filling defaults, and
// returns nil or an *Errors listing every problem. Problems carry field
// paths but no lines: a Config built in code has no file. Parse has
// already validated what it returns.
func (c *Config) Validate() error {
	col := &collector{}
	c.validate(col)
	return col.finish(nil)
}

func (c *Config) validate(col *collector) {
	c.validateLog(col)
	c.validateSIP(col)
	c.validateHTTP(col)
	c.validateMedia(col)
	if c.DataDir == "" {
		col.addf("data_dir", "required: the directory for the database")
	}
	c.validateRetention(col)
	c.validateRuntime(col)
	c.validateTenants(col)
}

func (c *Config) validateRuntime(col *collector) {
	r := &c.Runtime
	if r.GCPercent < 25 || r.GCPercent > 10000 {
		col.addf("runtime.gc_percent", "must be between 25 and 10000")
	}
	if r.MemoryLimitMiB != 0 && r.MemoryLimitMiB < 64 {
		col.addf("runtime.memory_limit_mib", "must be 0 (half the machine's memory) or at least 64")
	}
}

func (c *Config) validateLog(col *collector) {
	switch c.Log.Format {
	case LogText, LogJSON:
	default:
		col.add("log.format", oneOf(LogText, LogJSON))
	}
	switch c.Log.Level {
	case LogDebug, LogInfo, LogWarn, LogError:
	default:
		col.add("log.level", oneOf(LogDebug, LogInfo, LogWarn, LogError))
	}
}

func (c *Config) validateSIP(col *collector) {
	s := &c.SIP
	if len(s.Listen) == 0 {
		col.addf("sip.listen", "at least one listener is required")
	}
	// Listeners that would bind the same socket: udp has its own port
	// space, tcp and tls share one.
	sockets := make(map[string]string)
	for i, l := range s.Listen {
		p := idx("sip.listen", i)
		family := TransportTCP
		switch l.Transport {
		case TransportUDP:
			family = TransportUDP
		case TransportTCP, TransportTLS, TransportWS, TransportWSS:
		default:
			col.add(at(p, "transport"), oneOf(TransportUDP, TransportTCP, TransportTLS, TransportWS, TransportWSS))
		}
		if err := checkHostPort(l.Address, true); err != nil {
			col.addf(at(p, "address"), "%s", err)
		} else if other, dup := sockets[family+" "+l.Address]; dup {
			col.addf(at(p, "address"), "same %s socket as %s", family, other)
		} else {
			sockets[family+" "+l.Address] = p
		}
		if l.Transport == TransportTLS || l.Transport == TransportWSS {
			if l.CertFile == "" {
				col.addf(at(p, "cert_file"), "required with transport %s", l.Transport)
			}
			if l.KeyFile == "" {
				col.addf(at(p, "key_file"), "required with transport %s", l.Transport)
			}
		} else {
			if l.CertFile != "" {
				col.addf(at(p, "cert_file"), "only used with transport tls or wss")
			}
			if l.KeyFile != "" {
				col.addf(at(p, "key_file"), "only used with transport tls or wss")
			}
		}
	}
	if s.AdvertisedAddress != "" {
		if err := checkHost(s.AdvertisedAddress); err != nil {
			col.addf("sip.advertised_address", "%s (a host or IP, without port)", err)
		}
	}
	if s.UserAgent == "" {
		col.addf("sip.user_agent", "must not be empty")
	}
	if s.MaxCalls < 1 {
		col.addf("sip.max_calls", "must be at least 1")
	}
	positive(col, "sip.retry_after", s.RetryAfter)
	positive(col, "sip.drain_timeout", s.DrainTimeout)
	if s.SessionExpires.D() < minSessionExpires {
		col.addf("sip.session_expires", "must be at least %s (RFC 4028 minimum)", minSessionExpires)
	}
	if d := s.TransactionLinger.D(); d < minTransactionLinger || d > maxTransactionLinger {
		col.addf("sip.transaction_linger", "must be between %s and %s", minTransactionLinger, maxTransactionLinger)
	}
	for _, f := range []struct {
		path string
		d    Duration
	}{{"sip.overload.max_delay", s.Overload.MaxDelay}, {"sip.overload.interval", s.Overload.Interval}} {
		if d := f.d.D(); d < minOverloadWindow || d > maxOverloadWindow {
			col.addf(f.path, "must be between %s and %s", minOverloadWindow, maxOverloadWindow)
		}
	}
	r := &s.Registration
	l := &c.SIP.Limits
	for _, f := range []struct {
		path string
		v    int
	}{{"sip.limits.invite_rate", l.InviteRate}, {"sip.limits.register_rate", l.RegisterRate},
		{"sip.limits.options_rate", l.OptionsRate}, {"sip.limits.auth_failures", l.AuthFailures},
		{"sip.limits.tcp_connections", l.TCPConnections}} {
		if f.v < 0 {
			col.addf(f.path, "%d is negative (0 takes the default)", f.v)
		}
	}
	for _, f := range []struct {
		path string
		v    Duration
	}{{"sip.limits.auth_window", l.AuthWindow}, {"sip.limits.ban_time", l.BanTime},
		{"sip.limits.tcp_header_timeout", l.TCPHeaderTimeout}, {"sip.limits.tcp_idle_timeout", l.TCPIdleTimeout}} {
		if f.v < 0 {
			col.addf(f.path, "%s is negative (0 takes the default)", f.v)
		}
	}
	okMin := positive(col, "sip.registration.min_expires", r.MinExpires)
	okMax := positive(col, "sip.registration.max_expires", r.MaxExpires)
	okDef := positive(col, "sip.registration.default_expires", r.DefaultExpires)
	if okMin && okMax && okDef {
		if r.MinExpires > r.MaxExpires {
			col.addf("sip.registration.min_expires", "%s is more than max_expires %s", r.MinExpires, r.MaxExpires)
		} else if r.DefaultExpires < r.MinExpires || r.DefaultExpires > r.MaxExpires {
			col.addf("sip.registration.default_expires", "%s is outside min_expires %s … max_expires %s", r.DefaultExpires, r.MinExpires, r.MaxExpires)
		}
	}
	if r.MaxContacts < 1 {
		col.addf("sip.registration.max_contacts", "must be at least 1")
	}
	c.validateFeatureCodes(col)
	seen := map[string]bool{}
	for i, a := range s.DigestAlgorithms {
		path := fmt.Sprintf("sip.digest_algorithms[%d]", i)
		switch {
		case a != DigestMD5 && a != DigestSHA256:
			col.addf(path, "%s is not one of MD5, SHA-256", quoteShort(a))
		case seen[a]:
			col.addf(path, "%s is listed twice", a)
		}
		seen[a] = true
	}
}

// Digest algorithms earshot can challenge with.
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// featureCodes lists the codes with their field paths, the supervision
// modes first.
func (c *Config) featureCodes() [10][2]string {
	f := &c.SIP.FeatureCodes
	return [10][2]string{
		{"sip.feature_codes.listen", f.Listen},
		{"sip.feature_codes.whisper", f.Whisper},
		{"sip.feature_codes.barge", f.Barge},
		{"sip.feature_codes.intercept", f.Intercept},
		{"sip.feature_codes.pause", f.Pause},
		{"sip.feature_codes.unpause", f.Unpause},
		{"sip.feature_codes.login", f.Login},
		{"sip.feature_codes.logout", f.Logout},
		{"sip.feature_codes.help", f.Help},
		{"sip.feature_codes.help_close", f.HelpClose},
	}
}

func (c *Config) validateFeatureCodes(col *collector) {
	codes := c.featureCodes()
	for i, fc := range codes {
		path, code := fc[0], fc[1]
		if code == "" {
			col.addf(path, "must not be empty")
			continue
		}
		if strings.Trim(code, "0123456789*#") != "" {
			col.addf(path, "%s must be made of digits, * and #", quoteShort(code))
			continue
		}
		// A supervisor dials code+extension; if one code starts another,
		// the digits would name two different things.
		for _, prev := range codes[:i] {
			switch {
			case prev[1] == "":
			case prev[1] == code:
				col.addf(path, "%q is also %s", code, prev[0])
			case strings.HasPrefix(code, prev[1]) || strings.HasPrefix(prev[1], code):
				col.addf(path, "%q and %s %q start alike; dialled digits would be ambiguous", code, prev[0], prev[1])
			}
		}
	}
}

func (c *Config) validateHTTP(col *collector) {
	h := &c.HTTP
	if h.SessionIdleTimeout.D() <= 0 {
		col.addf("http.session_idle_timeout", "must be positive")
	}
	if h.SessionMaxAge.D() < h.SessionIdleTimeout.D() {
		col.addf("http.session_max_age", "shorter than http.session_idle_timeout")
	}
	for i, o := range h.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			col.addf(idx("http.cors_origins", i), "%s", err)
		}
	}
	if err := checkHostPort(c.HTTP.Listen, true); err != nil {
		col.addf("http.listen", "%s", err)
		return
	}
	for i, l := range c.SIP.Listen {
		if l.Transport != TransportUDP && l.Address == c.HTTP.Listen {
			col.addf("http.listen", "same TCP socket as %s", idx("sip.listen", i))
		}
	}
}

func (c *Config) validateMedia(col *collector) {
	m := &c.Media
	if m.Address == "" {
		col.addf("media.address", "required: the IP address RTP sockets bind to")
	} else if _, err := netip.ParseAddr(m.Address); err != nil {
		col.addf("media.address", "%s must be an IP address", quoteShort(m.Address))
	}
	if m.AdvertisedAddress != "" {
		if _, err := netip.ParseAddr(m.AdvertisedAddress); err != nil {
			col.addf("media.advertised_address", "%s must be an IP address", quoteShort(m.AdvertisedAddress))
		}
	}
	okMin := m.PortMin >= 1024 && m.PortMin <= 65535
	okMax := m.PortMax >= 1024 && m.PortMax <= 65535
	if !okMin {
		col.addf("media.port_min", "%d must be in 1024–65535", m.PortMin)
	} else if m.PortMin%2 != 0 {
		// RTP takes the even port, RTCP the odd one above it.
		col.addf("media.port_min", "%d must be even (RTP even, RTCP odd)", m.PortMin)
		okMin = false
	}
	if !okMax {
		col.addf("media.port_max", "%d must be in 1024–65535", m.PortMax)
	}
	if okMin && okMax {
		if m.PortMin >= m.PortMax {
			col.addf("media.port_max", "%d must be greater than port_min %d", m.PortMax, m.PortMin)
		} else if pairs := (m.PortMax - m.PortMin + 1) / 2; pairs < 2 {
			col.addf("media.port_max", "the range %d–%d holds %d RTP/RTCP port pair; at least 2 are needed", m.PortMin, m.PortMax, pairs)
		}
	}
	positive(col, "media.timeout", m.Timeout)
	positive(col, "media.webrtc_ice_timeout", m.WebRTCICETimeout)
	positive(col, "media.webrtc_consent_timeout", m.WebRTCConsentTimeout)
	if m.Latching != LatchingNAT && m.Latching != LatchingStrict {
		col.addf("media.latching", "%s must be %q or %q", quoteShort(m.Latching), LatchingNAT, LatchingStrict)
	}
	switch m.KernelRelay {
	case KernelRelayAuto, KernelRelayOff, KernelRelayOn:
	default:
		col.addf("media.kernel_relay", "%s must be %q, %q or %q", quoteShort(m.KernelRelay), KernelRelayAuto, KernelRelayOff, KernelRelayOn)
	}
	switch m.IOUring {
	case IOUringAuto, IOUringOff, IOUringOn:
	default:
		col.addf("media.io_uring", "%s must be %q, %q or %q", quoteShort(m.IOUring), IOUringAuto, IOUringOff, IOUringOn)
	}
	if m.ReceiveThreads != ReceiveDedicated && m.ReceiveThreads != ReceiveShared {
		col.addf("media.receive_threads", "%s must be %q or %q", quoteShort(m.ReceiveThreads), ReceiveDedicated, ReceiveShared)
	}
	for i, name := range m.KernelInterfaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
			col.addf(fmt.Sprintf("media.kernel_interfaces[%d]", i), "%s is not an interface name", quoteShort(name))
		}
	}
}

// minRetention is the shortest retention accepted: the statistics look one
// hour back, and an audit trail kept for less would be no audit trail.
const minRetention = time.Hour

func (c *Config) validateRetention(col *collector) {
	r := &c.Retention
	if r.Audit.D() < minRetention {
		col.addf("retention.audit", "must be at least %s", minRetention)
	}
	if r.CallHistory.D() < minRetention {
		col.addf("retention.call_history", "must be at least %s (the statistics look one hour back)", minRetention)
	}
}

// positive reports a duration that is not greater than zero.
func positive(col *collector, path string, d Duration) bool {
	if d <= 0 {
		col.addf(path, "must be greater than 0")
		return false
	}
	return true
}

// checkOrigin accepts a web origin as browsers send it in Origin:
// scheme://host[:port], nothing after; or "*".
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" ||
		u.Fragment != "" || u.User != nil || strings.ToLower(o) != o || strings.HasSuffix(o, "/") {
		return fmt.Errorf("%q is not an origin: want scheme://host[:port] in lower case, no path, or \"*\"", o)
	}
	return nil
}
