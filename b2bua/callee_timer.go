package b2bua

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The session timer on the callee's dialog (RFC 4028). earshot asks for
// its configured interval in every INVITE it sends; the callee's 2xx says
// whether it uses the timer at all and who refreshes. When earshot is the
// refresher it sends an UPDATE (or, to a callee that does not allow UPDATE,
// a re-INVITE with the SDP it last sent) at half the interval; when the
// callee is, a refresh that does not come in time ends the call.

// calleeTimer is the state of the callee dialog's session timer.
type calleeTimer struct {
	interval  time.Duration // zero: no session timer on this dialog
	refresher bool          // earshot refreshes
	update    bool          // the callee allows UPDATE
	timer     *time.Timer   // the next refresh, or the expiry
	refreshed time.Time     // when the session was last refreshed
}

// calleeSessionExpires is the Session-Expires earshot asks callees for.
func (c *Call) calleeSessionExpires() sip.Header {
	return sip.NewHeader("Session-Expires", strconv.Itoa(int(c.s.cfg.SessionExpires/time.Second)))
}

// startCalleeTimer reads the callee's 2xx and starts the timer it agreed.
func (c *Call) startCalleeTimer(res *sip.Response) {
	se, ok := sessionExpires(res)
	if !ok {
		// No Session-Expires in the 2xx: the session does not expire
		// (RFC 4028 §7.2).
		return
	}
	t := &c.calleeSess
	t.interval = time.Duration(max(se, minSE)) * time.Second
	t.refresher = refresher(res) != "uas"
	t.update = hasTag(res, "Allow", "UPDATE")
	c.scheduleCallee()
}

// scheduleCallee (re)starts the timer from now: after a refresh either way.
func (c *Call) scheduleCallee() {
	t := &c.calleeSess
	if t.interval == 0 || c.ended {
		return
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	t.refreshed = time.Now()
	if t.refresher {
		t.timer = c.after(t.interval/2, c.refreshCallee)
		return
	}
	// RFC 4028 §10: BYE shortly before expiry, by min(32 s, interval/3).
	t.timer = c.after(t.interval-min(32*time.Second, t.interval/3), func() {
		if !c.ended {
			c.log.Info("callee's session timer expired")
			c.hangup(EndSessionTimer)
		}
	})
}

// refreshCallee sends a session refresh on the callee's dialog.
func (c *Call) refreshCallee() {
	l := c.callee
	if c.ended || l == nil {
		return
	}
	t := &c.calleeSess
	if l.offer != nil || c.caller.offer != nil {
		// An offer exchange with the callee is in flight; its 2xx will
		// refresh the session. Look again shortly.
		t.timer = c.after(time.Second, c.refreshCallee)
		return
	}
	method := sip.UPDATE
	if !t.update && l.sdpSent != nil {
		method = sip.INVITE
	}
	req := l.d.newRequest(method, c.s.contact(l.d.transport))
	req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(int(t.interval/time.Second))+";refresher=uac"))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if method == sip.INVITE {
		req.SetBody(l.sdpSent)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	answered := false
	_, err := c.startTx(req, func(res *sip.Response) {
		if res.IsProvisional() || answered {
			return
		}
		answered = true
		c.onCalleeRefreshed(req, res)
	}, func(error) {
		if !answered && !c.ended {
			c.log.Info("session refresh to callee got no answer")
			c.hangup(EndSessionTimer)
		}
	})
	if err != nil {
		c.log.Warn("session refresh to callee failed", "err", err)
		t.timer = c.after(time.Second, c.refreshCallee)
	}
}

// onCalleeRefreshed handles the final answer to earshot's refresh.
func (c *Call) onCalleeRefreshed(req *sip.Request, res *sip.Response) {
	l := c.callee
	if c.ended || l == nil {
		return
	}
	if req.Method == sip.INVITE && res.IsSuccess() {
		c.sendACK(l.d.newRequest(sip.ACK, c.s.contact(l.d.transport)))
	}
	switch {
	case res.IsSuccess():
		if se, ok := sessionExpires(res); ok {
			c.calleeSess.interval = time.Duration(max(se, minSE)) * time.Second
			c.calleeSess.refresher = refresher(res) != "uas"
		}
		c.scheduleCallee()
	case res.StatusCode == 408 || res.StatusCode == 481:
		// The dialog is gone (RFC 4028 §10).
		c.hangup(EndSessionTimer)
	case time.Since(c.calleeSess.refreshed) >= c.calleeSess.interval:
		c.log.Info("session refresh to callee refused until expiry", "code", res.StatusCode)
		c.hangup(EndSessionTimer)
	case (res.StatusCode == 405 || res.StatusCode == 501) && req.Method == sip.UPDATE && l.sdpSent != nil:
		// UPDATE not implemented after all: refresh with re-INVITE.
		c.calleeSess.update = false
		c.refreshCallee()
	default:
		// Refused for now (491 glare, 500): try again in a while, before
		// the session expires.
		c.calleeSess.timer = c.after(2*time.Second, c.refreshCallee)
	}
}

// refresher reads the refresher parameter of Session-Expires.
func refresher(m interface{ GetHeader(string) sip.Header }) string {
	h := sessionExpiresHeader(m)
	if h == nil {
		return ""
	}
	for _, p := range strings.Split(h.Value(), ";")[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}
