package queue

import (
	"slices"
	"strings"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// Team lists every user of tenant with role, registration and state, by
// extension.
func (q *Queue) Team(tenant string) []b2bua.AgentStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Now()
	var out []b2bua.AgentStatus
	for _, a := range q.agents {
		if a.tenant != tenant {
			continue
		}
		// The state is as the last tick or change settled it: a
		// registration that expired since shows within a tick.
		out = append(out, a.status(now, q.presence(tenant, a.user.Extension)))
	}
	slices.SortFunc(out, func(a, b b2bua.AgentStatus) int { return strings.Compare(a.Extension, b.Extension) })
	return out
}

// Agent returns one user's status, and whether it exists.
func (q *Queue) Agent(tenant, ext string) (b2bua.AgentStatus, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agents[key(tenant, ext)]
	if a == nil {
		return b2bua.AgentStatus{}, false
	}
	return a.status(q.cfg.Now(), q.presence(tenant, ext)), true
}

// Waiting lists the callers waiting in tenant's queues (group "" for all),
// by group and position.
func (q *Queue) Waiting(tenant, group string) []b2bua.QueuedCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []b2bua.QueuedCall
	for _, l := range q.lines {
		if l.tenant != tenant || (group != "" && l.group.Name != group) {
			continue
		}
		for _, e := range l.entries {
			if e.queued {
				out = append(out, e.view())
			}
		}
	}
	slices.SortFunc(out, func(a, b b2bua.QueuedCall) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return a.Position - b.Position
	})
	return out
}

// WaitBuckets are the upper bounds (seconds) of the wait histogram.
var WaitBuckets = []float64{5, 10, 20, 30, 60, 120, 300, 600}

// GroupStats is one group's queue figures for metrics.
type GroupStats struct {
	Tenant, Group string
	Waiting       int
	Joined        uint64
	// Left counts callers who left the queue, by reason (b2bua.Left*).
	Left map[string]uint64
	// WaitCounts is the histogram of the waits of callers who left the
	// queue (cumulative-free counts per WaitBuckets bound, +Inf last).
	WaitCounts []uint64
	WaitSum    float64
	// Agents counts the group's agents per state.
	Agents map[b2bua.AgentState]int
}

// Stats is the queue's figures, read at scrape time.
type Stats struct {
	Groups []GroupStats
	// Transitions counts agent state changes by new state.
	Transitions map[b2bua.AgentState]uint64
}

// totals are the queue's counters. Guarded by Queue.mu.
type totals struct {
	groups      map[string]*groupTotals
	transitions map[b2bua.AgentState]uint64
}

type groupTotals struct {
	joined     uint64
	left       map[string]uint64
	waitCounts []uint64
	waitSum    float64
}

func (t *totals) group(l *line) *groupTotals {
	if t.groups == nil {
		t.groups = map[string]*groupTotals{}
	}
	k := key(l.tenant, l.group.Name)
	g := t.groups[k]
	if g == nil {
		g = &groupTotals{left: map[string]uint64{}, waitCounts: make([]uint64, len(WaitBuckets)+1)}
		t.groups[k] = g
	}
	return g
}

func (t *totals) joined(l *line) { t.group(l).joined++ }

func (t *totals) left(l *line, why string, wait time.Duration) {
	g := t.group(l)
	g.left[why]++
	s := wait.Seconds()
	i, _ := slices.BinarySearch(WaitBuckets, s)
	g.waitCounts[i]++
	g.waitSum += s
}

// transition counts an agent's move into state.
func (t *totals) transition(state b2bua.AgentState) {
	if t.transitions == nil {
		t.transitions = map[b2bua.AgentState]uint64{}
	}
	t.transitions[state]++
}

// Stats returns a snapshot of the queue's figures.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{Transitions: map[b2bua.AgentState]uint64{}}
	for st, n := range q.totals.transitions {
		s.Transitions[st] = n
	}
	for _, l := range q.lines {
		gs := GroupStats{Tenant: l.tenant, Group: l.group.Name, Waiting: l.queued(),
			Left: map[string]uint64{}, WaitCounts: make([]uint64, len(WaitBuckets)+1), Agents: map[b2bua.AgentState]int{}}
		if g := q.totals.groups[key(l.tenant, l.group.Name)]; g != nil {
			gs.Joined, gs.WaitSum = g.joined, g.waitSum
			copy(gs.WaitCounts, g.waitCounts)
			for k, v := range g.left {
				gs.Left[k] = v
			}
		}
		for _, ext := range l.group.Agents {
			if a := q.agents[key(l.tenant, ext)]; a != nil {
				gs.Agents[a.state]++
			}
		}
		s.Groups = append(s.Groups, gs)
	}
	slices.SortFunc(s.Groups, func(a, b GroupStats) int { return strings.Compare(a.Tenant+"/"+a.Group, b.Tenant+"/"+b.Group) })
	return s
}
