package control

import (
	"net/http"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// slaWindows are the periods the SLA is computed over, with their names.
func slaWindows() []struct {
	name string
	d    time.Duration
} {
	return []struct {
		name string
		d    time.Duration
	}{{"5m", 5 * time.Minute}, {"15m", 15 * time.Minute}, {"30m", 30 * time.Minute}, {"60m", time.Hour}}
}

// StatsView is the answer of GET /stats: for the tenant (with a breakdown
// per group) or for one group.
type StatsView struct {
	Tenant string `json:"tenant"`
	Group  string `json:"group,omitempty"`
	// Online is answered calls in progress; Waiting, callers waiting for
	// an agent (in a queue, or ringing agents before it); Queued, those of
	// them in a queue; LongestWaitingSeconds, the age of the oldest
	// waiting call.
	Online                int     `json:"online"`
	Waiting               int     `json:"waiting"`
	Queued                int     `json:"queued"`
	LongestWaitingSeconds float64 `json:"longest_waiting_seconds"`
	LastHour              struct {
		Answered           int     `json:"answered"`
		Missed             int     `json:"missed"`
		AverageWaitSeconds float64 `json:"average_wait_seconds"`
	} `json:"last_hour"`
	// SLA is the percentage of calls answered within their group's
	// threshold among calls answered or missed in each window; null when
	// no call was.
	SLA    map[string]*float64 `json:"sla"`
	Groups []StatsView         `json:"groups,omitempty"`
}

func (s *Service) getStats(w http.ResponseWriter, r *http.Request, p Principal) error {
	group := r.URL.Query().Get("group")
	if group != "" && !s.dir.hasGroup(p.Tenant, group) {
		return errField("group", "no group %q in your tenant", group)
	}
	now := s.now()
	live := s.sw.Calls()
	if group != "" {
		writeJSON(w, http.StatusOK, s.statsFor(p.Tenant, group, live, now))
		return nil
	}
	v := s.statsFor(p.Tenant, "", live, now)
	for _, g := range s.dir.groups(p.Tenant) {
		v.Groups = append(v.Groups, s.statsFor(p.Tenant, g, live, now))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Service) statsFor(tenant, group string, live []b2bua.CallSnapshot, now time.Time) StatsView {
	v := StatsView{Tenant: tenant, Group: group, SLA: map[string]*float64{}}
	for i := range live {
		c := &live[i]
		if c.Tenant != tenant || (group != "" && c.Group != group) {
			continue
		}
		switch c.State {
		case b2bua.StateAnswered:
			v.Online++
		case b2bua.StateRinging, b2bua.StateQueued:
			if c.State == b2bua.StateQueued {
				v.Queued++
			}
			v.Waiting++
			if wait := now.Sub(c.StartedAt).Seconds(); wait > v.LongestWaitingSeconds {
				v.LongestWaitingSeconds = wait
			}
		}
	}
	hour := s.history.window(tenant, group, now.Add(-historyWindow))
	var waitSum time.Duration
	for _, o := range hour {
		if o.answered {
			v.LastHour.Answered++
		} else {
			v.LastHour.Missed++
		}
		waitSum += o.wait
	}
	if n := len(hour); n > 0 {
		v.LastHour.AverageWaitSeconds = (waitSum / time.Duration(n)).Seconds()
	}
	for _, win := range slaWindows() {
		since := now.Add(-win.d)
		n, good := 0, 0
		for _, o := range hour {
			if o.at.Before(since) {
				continue
			}
			n++
			if o.answered && o.wait.Seconds() <= s.dir.slaThreshold(tenant, o.group) {
				good++
			}
		}
		if n > 0 {
			pct := float64(good) * 100 / float64(n)
			v.SLA[win.name] = &pct
		} else {
			v.SLA[win.name] = nil
		}
	}
	return v
}
