package config

import "time"

// The defaults of optional fields. default.yaml spells every one of them out
// (TestDefaultFileSpellsOutDefaults keeps the two in step), and
// docs/config.md lists them.
const (
	defaultLogFormat      = LogText
	defaultLogLevel       = LogInfo
	defaultUserAgent      = "earshot"
	defaultMaxCalls       = 1000
	defaultRetryAfter     = 5 * time.Second
	defaultDrainTimeout   = 30 * time.Second
	defaultSessionExpires = 1800 * time.Second
	// Kamailio's tm keeps a completed transaction 5 s (wait_timer): time
	// for the retransmissions of a lost response; RFC 3261's 32 s holds
	// six times the calls' messages in memory at a given call rate
	// (docs/performance.md, "How long a finished transaction stays").
	defaultTransactionLinger = 5 * time.Second
	defaultOverloadDelay     = 100 * time.Millisecond
	defaultOverloadInterval  = 200 * time.Millisecond
	defaultMinExpires        = 60 * time.Second
	defaultMaxExpires        = 3600 * time.Second
	defaultDefaultExpires    = 600 * time.Second
	defaultMaxContacts       = 5
	defaultCodeListen        = "*1"
	defaultCodeWhisper       = "*2"
	defaultCodeBarge         = "*3"
	defaultCodeIntercept     = "*4"
	defaultHTTPListen        = "127.0.0.1:8080"
	defaultDataDir           = "./data"
	defaultAuditRetention    = 2160 * time.Hour // 90 days
	defaultCallRetention     = 720 * time.Hour  // 30 days
	defaultMediaAddress      = "127.0.0.1"
	defaultPortMin           = 20000
	defaultPortMax           = 29999
	defaultMediaTimeout      = 60 * time.Second
	// A browser checks its candidates within seconds; RFC 7675 §5.1 lets
	// consent expire 30 s after the last response.
	defaultWebRTCICETimeout     = 15 * time.Second
	defaultWebRTCConsentTimeout = 30 * time.Second
	defaultTrunkTransport       = TransportUDP
	defaultStrategy             = StrategyRingAll
	defaultRingTimeout          = 30 * time.Second
	defaultSLAThreshold         = 20 * time.Second
	defaultCodePause            = "*5"
	defaultCodeUnpause          = "*6"
	defaultCodeLogin            = "*7"
	defaultCodeLogout           = "*8"
	defaultCodeHelp             = "*9"
	defaultCodeHelpClose        = "*0"
	defaultMaxMissed            = 3
	defaultMaxWait              = 10 * time.Minute
	defaultAnnounceEvery        = 30 * time.Second
	defaultOverflowStatus       = 480
	defaultOverflowReason       = "Temporarily Unavailable"
	// Collections are nearly half of earshot's CPU per call at a high call
	// rate (docs/performance.md): four times Go's default 100 cuts its
	// CPU per call by 14-21 % there, and the memory limit bounds the
	// heap it lets grow.
	defaultGCPercent = 400
)

// defaultPauseReasons are a tenant's pause reasons when it lists none.
func defaultPauseReasons() []string { return []string{"break", "lunch", "training"} }

// SetDefaults replaces the zero value of every optional field with its
// default. Parse calls it before validating; a program that builds a
// Config in code calls it before Validate. Required fields (SIP listeners,
// tenants, names, roles, credentials...) are left alone: there is no safe
// guess for them. Calling it twice changes nothing.
func (c *Config) SetDefaults() {
	str(&c.Log.Format, defaultLogFormat)
	str(&c.Log.Level, defaultLogLevel)

	s := &c.SIP
	str(&s.UserAgent, defaultUserAgent)
	num(&s.MaxCalls, defaultMaxCalls)
	dur(&s.RetryAfter, defaultRetryAfter)
	dur(&s.DrainTimeout, defaultDrainTimeout)
	dur(&s.SessionExpires, defaultSessionExpires)
	dur(&s.TransactionLinger, defaultTransactionLinger)
	dur(&s.Overload.MaxDelay, defaultOverloadDelay)
	dur(&s.Overload.Interval, defaultOverloadInterval)
	dur(&s.Registration.MinExpires, defaultMinExpires)
	dur(&s.Registration.MaxExpires, defaultMaxExpires)
	dur(&s.Registration.DefaultExpires, defaultDefaultExpires)
	num(&s.Registration.MaxContacts, defaultMaxContacts)
	str(&s.FeatureCodes.Listen, defaultCodeListen)
	str(&s.FeatureCodes.Whisper, defaultCodeWhisper)
	str(&s.FeatureCodes.Barge, defaultCodeBarge)
	str(&s.FeatureCodes.Intercept, defaultCodeIntercept)
	str(&s.FeatureCodes.Pause, defaultCodePause)
	str(&s.FeatureCodes.Unpause, defaultCodeUnpause)
	str(&s.FeatureCodes.Login, defaultCodeLogin)
	str(&s.FeatureCodes.Logout, defaultCodeLogout)
	str(&s.FeatureCodes.Help, defaultCodeHelp)
	str(&s.FeatureCodes.HelpClose, defaultCodeHelpClose)
	if len(s.DigestAlgorithms) == 0 {
		s.DigestAlgorithms = []string{DigestMD5}
	}
	l := &s.Limits
	num(&l.InviteRate, 20)
	num(&l.RegisterRate, 20)
	num(&l.OptionsRate, 5)
	num(&l.AuthFailures, 10)
	dur(&l.AuthWindow, time.Minute)
	dur(&l.BanTime, 10*time.Minute)
	num(&l.TCPConnections, 32)
	dur(&l.TCPHeaderTimeout, 10*time.Second)
	dur(&l.TCPIdleTimeout, 2*time.Hour)

	num(&c.Runtime.GCPercent, defaultGCPercent)

	str(&c.HTTP.Listen, defaultHTTPListen)
	dur(&c.HTTP.SessionIdleTimeout, 8*time.Hour)
	dur(&c.HTTP.SessionMaxAge, 12*time.Hour)
	str(&c.DataDir, defaultDataDir)
	dur(&c.Retention.Audit, defaultAuditRetention)
	dur(&c.Retention.CallHistory, defaultCallRetention)

	str(&c.Media.Address, defaultMediaAddress)
	num(&c.Media.PortMin, defaultPortMin)
	num(&c.Media.PortMax, defaultPortMax)
	dur(&c.Media.Timeout, defaultMediaTimeout)
	dur(&c.Media.WebRTCICETimeout, defaultWebRTCICETimeout)
	dur(&c.Media.WebRTCConsentTimeout, defaultWebRTCConsentTimeout)
	str(&c.Media.Latching, LatchingNAT)
	str(&c.Media.KernelRelay, KernelRelayAuto)
	str(&c.Media.IOUring, IOUringAuto)
	str(&c.Media.ReceiveThreads, ReceiveDedicated)

	for ti := range c.Tenants {
		t := &c.Tenants[ti]
		for i := range t.Trunks {
			str(&t.Trunks[i].Transport, defaultTrunkTransport)
		}
		if len(t.PauseReasons) == 0 {
			t.PauseReasons = defaultPauseReasons()
		}
		for i := range t.Groups {
			g := &t.Groups[i]
			str(&g.Strategy, defaultStrategy)
			dur(&g.RingTimeout, defaultRingTimeout)
			dur(&g.SLAThreshold, defaultSLAThreshold)
			num(&g.MaxMissed, defaultMaxMissed)
			q := &g.Queue
			str(&q.Answer, QueueAnswer)
			dur(&q.MaxWait, defaultMaxWait)
			str(&q.Announce, AnnounceBoth)
			dur(&q.AnnounceInterval, defaultAnnounceEvery)
			if q.Overflow.Group == "" && q.Overflow.Number == "" {
				num(&q.Overflow.Status, defaultOverflowStatus)
			}
			if q.Overflow.Status != 0 {
				str(&q.Overflow.Reason, defaultOverflowReason)
			}
		}
	}
}

func str(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func num(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func dur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}
