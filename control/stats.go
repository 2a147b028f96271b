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
	t := s.newTally(p.Tenant, group, now)
	lb := s.listBufs.Get().(*listBuf)
	defer s.releaseListBuf(lb)
	lb.all = appendCalls(s.sw, lb.all[:0])
	t.addLive(lb.all)
	s.history.tally(t)
	body, ok := t.appendJSON(lb.body[:0])
	lb.body = body
	if !ok {
		v := t.view(0)
		for i := range t.groups {
			v.Groups = append(v.Groups, t.view(1+i))
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	writeBody(w, body)
	return nil
}

// statsTally computes the statistics of a tenant (slot 0) and of each of
// its groups (slot 1+i), or of one group (slot 0 only), in one pass over
// the live calls and one over the hour's history: what a request costs
// grows with the calls, not with calls × groups.
type statsTally struct {
	tenant string
	group  string   // when set, the only group counted (slot 0)
	groups []string // the tenant's groups, config order (group unset)
	index  map[string]int
	sla    []float64 // threshold of each group slot (1+i), seconds
	dir    *directory
	now    time.Time
	since  [4]time.Time // start of each SLA window, slaWindows order
	slots  []statsSlot
}

type statsSlot struct {
	online, waiting, queued int
	longest                 float64
	answered, missed        int
	waitSum                 time.Duration
	n, good                 [4]int // per SLA window
}

func (s *Service) newTally(tenant, group string, now time.Time) *statsTally {
	t := &statsTally{tenant: tenant, group: group, dir: s.dir, now: now}
	if group == "" {
		t.groups = s.dir.groups(tenant)
		t.index = make(map[string]int, len(t.groups))
		for i, g := range t.groups {
			t.index[g] = 1 + i
		}
	}
	for i, win := range slaWindows() {
		t.since[i] = now.Add(-win.d)
	}
	t.slots = make([]statsSlot, 1+len(t.groups))
	t.sla = make([]float64, len(t.slots))
	for i, g := range t.groups {
		t.sla[1+i] = s.dir.slaThreshold(tenant, g)
	}
	if group != "" {
		t.sla[0] = s.dir.slaThreshold(tenant, group)
	}
	return t
}

// slotsOf returns the slots a call or outcome of group g counts in: the
// tenant's and its group's, or the one group's.
func (t *statsTally) slotsOf(g string) (first, second int) {
	if t.group != "" {
		if g == t.group {
			return 0, -1
		}
		return -1, -1
	}
	if i, ok := t.index[g]; ok {
		return 0, i
	}
	return 0, -1
}

func (t *statsTally) addLive(live []*b2bua.CallSnapshot) {
	for _, c := range live {
		if c.Tenant != t.tenant {
			continue
		}
		a, b := t.slotsOf(c.Group)
		for _, k := range [2]int{a, b} {
			if k < 0 {
				continue
			}
			v := &t.slots[k]
			switch c.State {
			case b2bua.StateAnswered:
				v.online++
			case b2bua.StateRinging, b2bua.StateQueued:
				if c.State == b2bua.StateQueued {
					v.queued++
				}
				v.waiting++
				if wait := t.now.Sub(c.StartedAt).Seconds(); wait > v.longest {
					v.longest = wait
				}
			}
		}
	}
}

// addOutcomes counts the outcomes at or after the start of the hour.
func (t *statsTally) addOutcomes(outcomes []outcome) {
	hour := t.now.Add(-historyWindow)
	for i := range outcomes {
		o := &outcomes[i]
		if o.tenant != t.tenant || o.at.Before(hour) {
			continue
		}
		a, b := t.slotsOf(o.group)
		if a < 0 {
			continue
		}
		// Every slot counts the outcome against its own group's
		// threshold.
		var threshold float64
		switch {
		case t.group != "":
			threshold = t.sla[0]
		case b > 0:
			threshold = t.sla[b]
		default:
			threshold = t.dir.slaThreshold(t.tenant, o.group)
		}
		good := o.answered && o.wait.Seconds() <= threshold
		var in [4]bool
		for w := range t.since {
			in[w] = !o.at.Before(t.since[w])
		}
		for _, k := range [2]int{a, b} {
			if k < 0 {
				continue
			}
			v := &t.slots[k]
			if o.answered {
				v.answered++
			} else {
				v.missed++
			}
			v.waitSum += o.wait
			for w := range in {
				if in[w] {
					v.n[w]++
					if good {
						v.good[w]++
					}
				}
			}
		}
	}
}

// view returns slot k as the API shows it.
func (t *statsTally) view(k int) StatsView {
	sl := &t.slots[k]
	v := StatsView{Tenant: t.tenant, Group: t.slotGroup(k), SLA: map[string]*float64{}}
	v.Online, v.Waiting, v.Queued, v.LongestWaitingSeconds = sl.online, sl.waiting, sl.queued, sl.longest
	v.LastHour.Answered, v.LastHour.Missed = sl.answered, sl.missed
	v.LastHour.AverageWaitSeconds = sl.averageWait()
	for w, win := range slaWindows() {
		if pct, ok := sl.sla(w); ok {
			v.SLA[win.name] = &pct
		} else {
			v.SLA[win.name] = nil
		}
	}
	return v
}

// slotGroup is the group slot k counts ("" for the tenant's).
func (t *statsTally) slotGroup(k int) string {
	if t.group == "" && k > 0 {
		return t.groups[k-1]
	}
	return t.group
}

// averageWait is the mean wait of the hour's outcomes, in seconds.
func (sl *statsSlot) averageWait() float64 {
	if n := sl.answered + sl.missed; n > 0 {
		return (sl.waitSum / time.Duration(n)).Seconds()
	}
	return 0
}

// sla is the percentage answered within the threshold in window w; ok is
// false when no call counts in it.
func (sl *statsSlot) sla(w int) (pct float64, ok bool) {
	if sl.n[w] == 0 {
		return 0, false
	}
	return float64(sl.good[w]) * 100 / float64(sl.n[w]), true
}
