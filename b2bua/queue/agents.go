package queue

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// Errors of SetAgentState.
var (
	ErrUnknownUser   = errors.New("queue: no such user")
	ErrUnknownReason = errors.New("queue: unknown pause reason")
)

// Hold marks a user busy on a call that is not an offer of the queue.
func (q *Queue) Hold(tenant, ext string) {
	var out outbox
	q.mu.Lock()
	if a := q.agents[key(tenant, ext)]; a != nil {
		a.hold("")
		q.settle(a, q.cfg.Now(), "", &out)
	}
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}

// Free undoes a hold. A call that ended starts the wrap-up of the group it
// was for; an unanswered offer counts towards the agent's automatic
// pause; and the waiting callers the agent can now serve are woken.
func (q *Queue) Free(tenant, ext string, why b2bua.Release) {
	var out outbox
	q.mu.Lock()
	a := q.agents[key(tenant, ext)]
	if a == nil {
		q.mu.Unlock()
		return
	}
	now := q.cfg.Now()
	wasTalking := a.talking > 0
	if call := a.free(why); call != "" {
		if e := q.calls[call]; e != nil && e.offering > 0 {
			e.offering--
			e.missedAt = now // withdrawn or missed: not offered again at once
			if why == b2bua.ReleaseNoAnswer {
				q.missed(a, e.line, now)
			}
		}
	}
	var wrap time.Duration
	if why == b2bua.ReleaseEnded && wasTalking && a.talking == 0 && a.callGroup != "" {
		if l := q.lines[key(tenant, a.callGroup)]; l != nil {
			wrap = l.group.WrapUp
		}
		a.callGroup = ""
	}
	if !a.busy() {
		a.idleSince = now
		if wrap > 0 {
			a.wrapUntil = now.Add(wrap)
			time.AfterFunc(wrap, q.kick) // the wrap-up ends: offers may go
		}
	}
	q.settle(a, now, "", &out)
	q.wakeFor(a, now, &out)
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}

// missed counts an unanswered offer; too many in a row pause the agent.
// Caller holds q.mu.
func (q *Queue) missed(a *agent, l *line, now time.Time) {
	a.missed++
	if max := l.group.MaxMissed; max > 0 && a.missed >= max && !a.paused {
		a.paused, a.reason = true, b2bua.PauseNoAnswer
		q.cfg.Logger.Info("agent paused after unanswered offers", "tenant", a.tenant, "agent", a.user.Extension, "missed", a.missed)
	}
}

// Busy reports whether a user has a call ringing or active.
func (q *Queue) Busy(tenant, ext string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agents[key(tenant, ext)]
	return a != nil && a.busy()
}

// Answered takes call callID out of its line: ext is on it now.
func (q *Queue) Answered(callID, tenant, ext string) {
	var out outbox
	q.mu.Lock()
	now := q.cfg.Now()
	e := q.calls[callID]
	if a := q.agents[key(tenant, ext)]; a != nil {
		// The offer becomes the call; a user held otherwise (Hold) is
		// already counted as talking.
		if a.ringing > 0 && a.offer == callID {
			a.ringing--
			a.offer = ""
			a.talking++
			if e != nil {
				e.offering--
			}
		}
		a.missed = 0
		if e != nil {
			a.callGroup = e.line.group.Name
		}
		q.settle(a, now, "", &out)
	}
	if e != nil {
		if e.queued {
			e.line.answered(now.Sub(e.req.Since))
		}
		q.drop(e, now, b2bua.LeftAnswered, "agent:"+ext, &out)
	}
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}

// Left takes call callID out of its line: it ended, or stopped routing
// without an agent. A caller who hung up while queued abandoned.
func (q *Queue) Left(callID, reason string) {
	var out outbox
	q.mu.Lock()
	if e := q.calls[callID]; e != nil {
		why := b2bua.LeftEnded
		switch reason {
		case b2bua.EndCallerHangup, b2bua.EndCanceled:
			why = b2bua.LeftAbandoned
		case b2bua.EndCallback:
			why = b2bua.LeftCallback
		}
		q.drop(e, q.cfg.Now(), why, "", &out)
		q.wakePlanned(e.line, q.cfg.Now(), nil, &out)
	}
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}

// Registered: ext has a new registration; its waiting callers may be
// served now.
func (q *Queue) Registered(tenant, ext string) {
	var out outbox
	q.mu.Lock()
	if a := q.agents[key(tenant, ext)]; a != nil {
		now := q.cfg.Now()
		q.settle(a, now, "", &out)
		q.wakeFor(a, now, &out)
	}
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}

// SetAgentState puts ext in state with reason (see b2bua.AgentControl).
// An agent becoming available is offered waiting calls at once.
func (q *Queue) SetAgentState(tenant, ext string, state b2bua.AgentState, reason, actor string) error {
	var out outbox
	defer out.send(q.cfg.Observer)
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.agents[key(tenant, ext)]
	if a == nil {
		return fmt.Errorf("%w: %s", ErrUnknownUser, ext)
	}
	switch state {
	case b2bua.AgentAvailable:
		a.paused, a.loggedOut, a.missed, a.reason = false, false, 0, ""
	case b2bua.AgentPaused:
		reasons := q.reasons[tenant]
		if reason == "" && len(reasons) > 0 {
			reason = reasons[0]
		}
		if !slices.Contains(reasons, reason) {
			return fmt.Errorf("%w %q: the tenant's reasons are %v", ErrUnknownReason, reason, reasons)
		}
		a.paused, a.reason = true, reason
	case b2bua.AgentLoggedOut:
		a.loggedOut, a.paused, a.reason = true, false, ""
	default:
		return fmt.Errorf("queue: state %q cannot be set", state)
	}
	now := q.cfg.Now()
	q.settle(a, now, actor, &out)
	q.wakeFor(a, now, &out)
	return nil
}

// PauseReasons returns a tenant's pause reasons, in order.
func (q *Queue) PauseReasons(tenant string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.reasons[tenant])
}

// wakeFor wakes the callers of a's groups the plans serve. Caller holds
// q.mu.
func (q *Queue) wakeFor(a *agent, now time.Time, out *outbox) {
	for _, g := range a.groups {
		if l := q.lines[key(a.tenant, g)]; l != nil {
			q.wakePlanned(l, now, nil, out)
		}
	}
}

// kick refreshes every agent and wakes whom the plans serve.
func (q *Queue) kick() {
	var out outbox
	q.mu.Lock()
	if !q.closed {
		q.refresh(q.cfg.Now(), &out)
	}
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}
