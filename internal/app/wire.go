package app

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/rtpengine"
)

func mediaConfig(c *config.Config, log *slog.Logger) (rtpengine.Config, error) {
	bind, err := netip.ParseAddr(c.Media.Address)
	if err != nil {
		return rtpengine.Config{}, fmt.Errorf("media.address: %w", err)
	}
	mc := rtpengine.Config{
		BindAddr:     bind,
		PortMin:      c.Media.PortMin,
		PortMax:      c.Media.PortMax,
		MediaTimeout: c.Media.Timeout.D(),
		Logger:       log,
		// WebRTC legs' transports (docs/webrtc.md).
		WebRTCICETimeout:     c.Media.WebRTCICETimeout.D(),
		WebRTCConsentTimeout: c.Media.WebRTCConsentTimeout.D(),
	}
	if c.Media.Latching == config.LatchingStrict {
		mc.Latching = rtpengine.LatchStrict
	}
	switch c.Media.KernelRelay {
	case config.KernelRelayAuto:
		mc.KernelRelay = rtpengine.KernelAuto
	case config.KernelRelayOn:
		mc.KernelRelay = rtpengine.KernelOn
	}
	mc.KernelInterfaces = c.Media.KernelInterfaces
	switch c.Media.IOUring {
	case config.IOUringOff:
		mc.IOUring = rtpengine.IOUringOff
	case config.IOUringOn:
		mc.IOUring = rtpengine.IOUringOn
	}
	mc.DedicatedReceive = c.Media.ReceiveThreads == config.ReceiveDedicated
	if c.Media.AdvertisedAddress != "" {
		if mc.AdvertisedAddr, err = netip.ParseAddr(c.Media.AdvertisedAddress); err != nil {
			return rtpengine.Config{}, fmt.Errorf("media.advertised_address: %w", err)
		}
	}
	return mc, nil
}

// sipConfig translates the file schema into what the b2bua consumes.
func sipConfig(c *config.Config) (b2bua.Config, error) {
	bc := b2bua.Config{
		Host:           c.SIP.AdvertisedAddress,
		UserAgent:      c.SIP.UserAgent,
		MaxCalls:       c.SIP.MaxCalls,
		RetryAfter:     c.SIP.RetryAfter.D(),
		SessionExpires: c.SIP.SessionExpires.D(),
		Registration: b2bua.RegistrationPolicy{
			Min:         c.SIP.Registration.MinExpires.D(),
			Max:         c.SIP.Registration.MaxExpires.D(),
			Default:     c.SIP.Registration.DefaultExpires.D(),
			MaxContacts: c.SIP.Registration.MaxContacts,
		},
		DigestAlgorithms: c.SIP.DigestAlgorithms,
		TenantHeader:     c.SIP.TenantHeader,
		Overload: b2bua.Overload{
			MaxDelay: c.SIP.Overload.MaxDelay.D(), Interval: c.SIP.Overload.Interval.D(),
			Disabled: c.SIP.Overload.Disabled,
		},
		Limits: b2bua.Limits{
			InviteRate: float64(c.SIP.Limits.InviteRate), RegisterRate: float64(c.SIP.Limits.RegisterRate),
			OptionsRate: float64(c.SIP.Limits.OptionsRate), AuthFailures: c.SIP.Limits.AuthFailures,
			AuthWindow: c.SIP.Limits.AuthWindow.D(), BanTime: c.SIP.Limits.BanTime.D(),
			LimitTrunks: c.SIP.Limits.LimitTrunks, TCPConnections: c.SIP.Limits.TCPConnections,
			TCPHeaderTimeout: c.SIP.Limits.TCPHeaderTimeout.D(), TCPIdleTimeout: c.SIP.Limits.TCPIdleTimeout.D(),
		},
		FeatureCodes: b2bua.FeatureCodes{Listen: c.SIP.FeatureCodes.Listen, Whisper: c.SIP.FeatureCodes.Whisper,
			Barge: c.SIP.FeatureCodes.Barge, Intercept: c.SIP.FeatureCodes.Intercept,
			Pause: c.SIP.FeatureCodes.Pause, Unpause: c.SIP.FeatureCodes.Unpause,
			LogIn: c.SIP.FeatureCodes.Login, LogOut: c.SIP.FeatureCodes.Logout,
			Help: c.SIP.FeatureCodes.Help, HelpClose: c.SIP.FeatureCodes.HelpClose},
	}
	for _, t := range c.Tenants {
		bt := b2bua.Tenant{Name: t.Name, Domains: t.Domains, BargeBeep: t.BargeBeep,
			NotifyAgentOnMonitor: t.NotifyAgentOnMonitor, PauseReasons: t.PauseReasons, HoldMusic: t.HoldMusic,
			TransferDetachesSupervisors: t.TransferDetachesSupervisors}
		for _, tr := range t.Trunks {
			btr := b2bua.Trunk{Name: tr.Name, Outbound: tr.Outbound, Transport: tr.Transport,
				Username: tr.Username, Password: tr.Password, CallerID: tr.CallerID}
			for _, src := range tr.Sources {
				p, err := parsePrefix(src)
				if err != nil {
					return bc, fmt.Errorf("tenant %s trunk %s: %w", t.Name, tr.Name, err)
				}
				btr.Sources = append(btr.Sources, p)
			}
			bt.Trunks = append(bt.Trunks, btr)
		}
		for _, g := range t.Groups {
			st, err := b2bua.ParseStrategy(g.Strategy)
			if err != nil {
				return bc, err
			}
			bg := b2bua.Group{Name: g.Name, Agents: g.Agents, Supervisors: g.Supervisors, Strategy: st,
				RingTimeout: g.RingTimeout.D(), SLAThreshold: g.SLAThreshold.D(),
				WrapUp: g.WrapUp.D(), MaxMissed: g.MaxMissed, Queue: queuePolicy(g.Queue), CallerID: g.CallerID}
			for _, n := range g.Numbers {
				bg.Numbers = append(bg.Numbers, b2bua.Number{Number: n.Number, Label: n.Label, Priority: n.Priority})
			}
			bt.Groups = append(bt.Groups, bg)
		}
		for _, u := range t.Users {
			ring, err := b2bua.ParseDevice(u.Ring)
			if err != nil {
				return bc, fmt.Errorf("tenant %s user %s: ring: %w", t.Name, u.Extension, err)
			}
			bu := b2bua.User{Extension: u.Extension, Name: u.Name, Role: u.Role, Password: u.Password, Token: u.Token, Ring: ring}
			if len(u.Modes) > 0 {
				bu.Modes = []b2bua.Mode{} // listed: only these
				for _, m := range u.Modes {
					mode, err := b2bua.ParseMode(m)
					if err != nil {
						return bc, fmt.Errorf("tenant %s user %s: mode %q: %w", t.Name, u.Extension, m, err)
					}
					bu.Modes = append(bu.Modes, mode)
				}
			}
			bt.Users = append(bt.Users, bu)
		}
		bc.Tenants = append(bc.Tenants, bt)
	}
	return bc, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("source %q is neither a CIDR nor an IP", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func sipListeners(c *config.Config) []b2bua.Listener {
	var ls []b2bua.Listener
	for _, l := range c.SIP.Listen {
		ls = append(ls, b2bua.Listener{Transport: l.Transport, Address: l.Address, CertFile: l.CertFile, KeyFile: l.KeyFile})
	}
	return ls
}

// queuePolicy translates a group's queue block.
func queuePolicy(q config.Queue) b2bua.QueuePolicy {
	p := b2bua.QueuePolicy{
		Disabled:         q.Disabled,
		EarlyMedia:       q.Answer == config.QueueEarlyMedia,
		MaxWait:          q.MaxWait.D(),
		MaxLength:        q.MaxLength,
		JoinEmpty:        q.JoinEmpty,
		Overflow:         b2bua.Exit{Group: q.Overflow.Group, Number: q.Overflow.Number, Status: q.Overflow.Status, Reason: q.Overflow.Reason},
		AnnounceInterval: q.AnnounceInterval.D(),
		NoPosition:       q.Announce == config.AnnounceWait || q.Announce == config.AnnounceNone,
		NoWait:           q.Announce == config.AnnouncePosition || q.Announce == config.AnnounceNone,
	}
	if q.LeaveDigit != "" {
		p.LeaveDigit = q.LeaveDigit[0]
	}
	return p
}
