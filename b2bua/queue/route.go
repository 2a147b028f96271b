package queue

import (
	"slices"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// Route answers a call to a group: the agents the plan gives it now (held
// for it), or Wait in the group's queue, or the group's overflow.
func (q *Queue) Route(req b2bua.RouteRequest) b2bua.Decision {
	var out outbox
	defer out.send(q.cfg.Observer)
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Now()
	l := q.lines[key(req.Tenant, req.Group.Name)]
	if l == nil {
		// A group the queue was not configured with: a plain ring group
		// has nobody to give.
		return b2bua.Decision{Status: 480, Reason: "No Agent Available"}
	}
	l.group = *req.Group // b2bua's copy is the one calls run on
	e := q.calls[req.CallID]
	switch {
	case e == nil:
		q.seq++
		e = &entry{req: req, line: l, seq: q.seq, tried: map[string]bool{}}
		l.insert(e)
		q.calls[req.CallID] = e
	case e.line != l:
		// Rerouted to another group (an overflow, a move): a new place at
		// the end of that line, still queued if the caller already waits.
		if e.queued {
			q.drop(e, now, b2bua.LeftMoved, "group:"+l.group.Name, &out)
			q.calls[req.CallID] = e
		} else {
			e.line.remove(e)
		}
		q.seq++
		e.line, e.seq, e.tried, e.req = l, q.seq, map[string]bool{}, req
		l.insert(e)
		if e.queued {
			e.queuedAt, e.position = now, 0
			q.joined(e, now, &out)
		}
	}
	e.req = req
	if ext := e.pinned; ext != "" {
		// Picked: offered to that user alone, whoever waits ahead.
		e.pinned = ""
		if a := q.agents[key(req.Tenant, ext)]; a != nil && !a.busy() {
			q.offer(e, a, now, &out)
			return b2bua.Decision{Agents: []string{ext}}
		}
	}
	plan := q.plan(l, now)
	if mine := plan[e]; len(mine) > 0 {
		for _, a := range mine {
			q.offer(e, a, now, &out)
		}
		q.wakePlanned(l, now, e, &out)
		return b2bua.Decision{Agents: agentNames(mine)}
	}
	q.wakePlanned(l, now, e, &out)
	if e.queued {
		return b2bua.Decision{Wait: true}
	}
	p := l.group.Queue
	why := ""
	switch {
	case p.Disabled:
		why = b2bua.LeftOverflowed
	case !p.JoinEmpty && !q.anyLoggedIn(l, now):
		why = "no_agents"
	case p.MaxLength > 0 && l.queued() >= p.MaxLength:
		why = "full"
	}
	if why != "" {
		x := p.Overflow
		x.Why = why
		q.drop(e, now, b2bua.LeftOverflowed, x.Target(), &out)
		if p.Disabled && x.Group == "" && x.Number == "" {
			// A plain ring group: the caller's answer says why.
			reason := "No Agent Available"
			if len(e.tried) > 0 {
				reason = "Temporarily Unavailable"
			}
			return b2bua.Decision{Status: x.Status, Reason: reason}
		}
		return b2bua.Decision{Exit: &x}
	}
	e.queued, e.queuedAt = true, now
	q.joined(e, now, &out)
	return b2bua.Decision{Wait: true, Announce: e.announcement(true)}
}

// joined publishes e's joining the queue and schedules its next
// announcement. Caller holds q.mu.
func (q *Queue) joined(e *entry, now time.Time, out *outbox) {
	e.position = e.line.position(e)
	if iv := e.line.group.Queue.AnnounceInterval; iv > 0 {
		e.announce = now.Add(iv)
	} else {
		e.announce = time.Time{}
	}
	q.totals.joined(e.line)
	out.queueEvents = append(out.queueEvents, b2bua.QueueEvent{Type: b2bua.QueueJoined, Time: now, Call: e.view()})
	q.publishPositions(e.line, now, out)
}

// offer holds a for e. Caller holds q.mu.
func (q *Queue) offer(e *entry, a *agent, now time.Time, out *outbox) {
	a.hold(e.req.CallID)
	e.offering++
	e.tried[a.user.Extension] = true
	if e.line.group.Strategy == b2bua.RoundRobin {
		if i := slices.Index(e.line.group.Agents, a.user.Extension); i >= 0 {
			e.line.rrNext = (i + 1) % len(e.line.group.Agents)
		}
	}
	q.settle(a, now, "", out)
}

// retryDelay is how long after its last unanswered offer an entry that
// has tried every free agent waits before a new round offers it to them
// again (Asterisk's retry): meanwhile those agents serve callers behind.
const retryDelay = 5 * time.Second

// plan decides, for every entry of l not being offered, in the line's
// order, which available agents it would get now: every one it has not
// tried this round with ring-all, the first by the strategy otherwise.
// An entry that tried every available agent starts a new round, once
// retryDelay passed since its last miss. Caller holds q.mu.
func (q *Queue) plan(l *line, now time.Time) map[*entry][]*agent {
	if !slices.ContainsFunc(l.entries, func(e *entry) bool { return e.offering == 0 }) {
		return nil // nobody to plan for: an agent freed with no caller waiting
	}
	free := q.available(l, now)
	if len(free) == 0 {
		return nil
	}
	plan := map[*entry][]*agent{}
	used := map[*agent]bool{}
	for _, e := range l.entries {
		if e.offering > 0 {
			continue
		}
		var left, fresh []*agent
		for _, a := range free {
			if used[a] {
				continue
			}
			left = append(left, a)
			if !e.tried[a.user.Extension] {
				fresh = append(fresh, a)
			}
		}
		if len(left) == 0 {
			break
		}
		if len(fresh) == 0 {
			if now.Sub(e.missedAt) < retryDelay {
				continue // the agents just missed it: others may take them
			}
			clear(e.tried) // a new round
			fresh = left
		}
		if l.group.Strategy != b2bua.RingAll {
			fresh = fresh[:1]
		}
		plan[e] = fresh
		for _, a := range fresh {
			used[a] = true
		}
	}
	return plan
}

// available lists l's agents who may be offered a call now, in the
// group's strategy order. Caller holds q.mu.
func (q *Queue) available(l *line, now time.Time) []*agent {
	g := &l.group
	var free []*agent
	n := len(g.Agents)
	for i := range n {
		idx := i
		if g.Strategy == b2bua.RoundRobin {
			idx = (l.rrNext + i) % n
		}
		a := q.agents[key(l.tenant, g.Agents[idx])]
		if a == nil || a.busy() || a.paused || a.loggedOut || now.Before(a.wrapUntil) {
			continue
		}
		if !q.presence(l.tenant, a.user.Extension) {
			continue
		}
		free = append(free, a)
	}
	if g.Strategy == b2bua.LongestIdle {
		// Never-used agents (zero time) first, then the longest idle.
		slices.SortStableFunc(free, func(a, b *agent) int { return a.idleSince.Compare(b.idleSince) })
	}
	return free
}

// anyLoggedIn reports whether an agent of l is registered and not logged
// out (paused or busy counts as logged in). Caller holds q.mu.
func (q *Queue) anyLoggedIn(l *line, now time.Time) bool {
	for _, ext := range l.group.Agents {
		a := q.agents[key(l.tenant, ext)]
		if a != nil && !a.loggedOut && q.presence(l.tenant, ext) {
			return true
		}
	}
	return false
}

// wakePlanned wakes every entry of l but except that the plan serves now,
// so that it asks for its agents. Caller holds q.mu.
func (q *Queue) wakePlanned(l *line, now time.Time, except *entry, out *outbox) {
	for e := range q.plan(l, now) {
		if e != except {
			out.wakes = append(out.wakes, e.req.Wake)
		}
	}
}

func agentNames(as []*agent) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.user.Extension
	}
	return out
}

// Pick reserves waiting call callID for ext (see b2bua.Router).
func (q *Queue) Pick(callID, tenant, ext string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.calls[callID]
	if e == nil || !e.queued {
		return b2bua.ErrNotQueued
	}
	a := q.agents[key(tenant, ext)]
	if a == nil {
		return ErrUnknownUser
	}
	if a.busy() {
		return b2bua.ErrUserBusy
	}
	e.pinned = ext
	return nil
}
