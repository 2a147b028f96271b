package queue

import (
	"slices"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// line is one group's callers, in the order they are served. Guarded by
// Queue.mu.
type line struct {
	tenant  string
	group   b2bua.Group
	entries []*entry // by priority (higher first), then arrival
	rrNext  int      // round-robin: index of the agent after the last one offered
	// waits are the waits of the group's last answered queued callers,
	// for the estimated wait.
	waits []time.Duration
}

// recentWaits is how many answered waits the estimate averages.
const recentWaits = 20

// entry is one call routed to a group, from its first Route until it is
// answered or leaves. Guarded by Queue.mu.
type entry struct {
	req      b2bua.RouteRequest // the last one: its callbacks reach the call
	line     *line
	seq      uint64 // arrival order
	queued   bool   // the caller waits in the queue (Decision Wait)
	queuedAt time.Time
	offering int             // agents held for it now
	tried    map[string]bool // agents offered it this round
	missedAt time.Time       // when an agent last left its offer unanswered
	pinned   string          // a user who picked the call: its only offer
	announce time.Time       // when the next announcement is due
	position int             // as last published
}

// insert places e by priority, after everyone of its priority.
func (l *line) insert(e *entry) {
	i := slices.IndexFunc(l.entries, func(o *entry) bool { return o.req.Priority < e.req.Priority })
	if i < 0 {
		i = len(l.entries)
	}
	l.entries = slices.Insert(l.entries, i, e)
}

// remove takes e out of the line.
func (l *line) remove(e *entry) {
	l.entries = slices.DeleteFunc(l.entries, func(o *entry) bool { return o == e })
}

// position is e's place among the queued callers (1 is next), 0 if it is
// not queued.
func (l *line) position(e *entry) int {
	n := 0
	for _, o := range l.entries {
		if o.queued {
			n++
		}
		if o == e {
			if !e.queued {
				return 0
			}
			return n
		}
	}
	return 0
}

// queued is the number of callers waiting in the queue.
func (l *line) queued() int {
	n := 0
	for _, o := range l.entries {
		if o.queued {
			n++
		}
	}
	return n
}

// answered records the wait of a queued caller an agent answered.
func (l *line) answered(wait time.Duration) {
	l.waits = append(l.waits, wait)
	if len(l.waits) > recentWaits {
		l.waits = l.waits[len(l.waits)-recentWaits:]
	}
}

// estimate is the average wait of the recent answered callers, 0 when
// there were none.
func (l *line) estimate() time.Duration {
	if len(l.waits) == 0 {
		return 0
	}
	var sum time.Duration
	for _, w := range l.waits {
		sum += w
	}
	return sum / time.Duration(len(l.waits))
}

// view is e as the queue listing shows it.
func (e *entry) view() b2bua.QueuedCall {
	return e.viewAt(e.line.position(e))
}

// viewAt is e's view with its position in the line already known.
func (e *entry) viewAt(position int) b2bua.QueuedCall {
	return b2bua.QueuedCall{
		CallID: e.req.CallID, Tenant: e.line.tenant, Group: e.line.group.Name,
		Position: position, Caller: e.req.Caller, Number: e.req.Number, Label: e.req.Label,
		Priority: e.req.Priority, Since: e.req.Since, Queued: e.queuedAt, Offered: e.offering > 0,
	}
}

// announcement is what e's caller is told now.
func (e *entry) announcement(welcome bool) b2bua.Announcement {
	p := e.line.group.Queue
	a := b2bua.Announcement{Welcome: welcome}
	if !p.NoPosition {
		a.Position = e.line.position(e)
	}
	if !p.NoWait {
		a.Wait = e.line.estimate()
	}
	return a
}
