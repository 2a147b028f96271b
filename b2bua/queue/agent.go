package queue

import (
	"time"

	"github.com/earshot/earshot/b2bua"
)

// agent is one user of a tenant as the queue sees it: what holds it (calls
// ringing it or talking), whether it paused or logged out, its wrap-up,
// and the time it spent in each state. Guarded by Queue.mu.
type agent struct {
	tenant string
	user   b2bua.User
	groups []string // the groups it is an agent of

	ringing int    // offers out to it
	talking int    // calls it is on (and other holds)
	offer   string // the call the offer out to it is for
	// callGroup is the group of the call it answered, for wrap-up.
	callGroup string

	paused    bool
	reason    string
	loggedOut bool
	wrapUntil time.Time
	missed    int // consecutive unanswered offers
	idleSince time.Time

	state   b2bua.AgentState // as last published
	since   time.Time
	seconds map[b2bua.AgentState]time.Duration
}

// derive is the agent's state now. Calls come first (an agent on a call
// is on_call whatever else holds), then the agent's own choices, then
// wrap-up.
func (a *agent) derive(now time.Time, registered bool) b2bua.AgentState {
	switch {
	case a.talking > 0:
		return b2bua.AgentOnCall
	case a.ringing > 0:
		return b2bua.AgentRinging
	case a.loggedOut || !registered:
		return b2bua.AgentLoggedOut
	case a.paused:
		return b2bua.AgentPaused
	case now.Before(a.wrapUntil):
		return b2bua.AgentWrapUp
	}
	return b2bua.AgentAvailable
}

// busy reports whether a call holds the agent.
func (a *agent) busy() bool { return a.ringing+a.talking > 0 }

// status is the agent's public view, its state as last published.
func (a *agent) status(now time.Time, registered bool) b2bua.AgentStatus {
	st := b2bua.AgentStatus{
		Tenant: a.tenant, Extension: a.user.Extension, Name: a.user.Name, Role: a.user.Role,
		Groups: append([]string(nil), a.groups...), Registered: registered,
		State: a.state, Since: a.since, Missed: a.missed, Seconds: map[b2bua.AgentState]float64{},
	}
	if a.state == b2bua.AgentPaused {
		st.Reason = a.reason
	}
	for s, d := range a.seconds {
		st.Seconds[s] = d.Seconds()
	}
	st.Seconds[a.state] += now.Sub(a.since).Seconds()
	return st
}

// settle moves the agent to its derived state, accounting the time spent
// in the old one; it returns the event to publish, ok false if unchanged.
// The event is returned by value: a pointer would put a copy on the heap
// for every state change, four per call.
func (a *agent) settle(now time.Time, registered bool, actor string) (ev b2bua.AgentEvent, ok bool) {
	next := a.derive(now, registered)
	if next == a.state {
		return ev, false
	}
	from := a.state
	a.seconds[from] += now.Sub(a.since)
	a.state, a.since = next, now
	ev = b2bua.AgentEvent{Time: now, Agent: a.status(now, registered), From: from, Actor: actor}
	if next == b2bua.AgentPaused {
		ev.Reason = a.reason
	}
	return ev, true
}

// hold takes one more call: an offer (ringing) or anything else (talking).
func (a *agent) hold(offerFor string) {
	if offerFor != "" {
		a.ringing++
		a.offer = offerFor
		return
	}
	a.talking++
}

// free undoes one hold for why; it returns the call an offer was
// withdrawn from or missed for, if any.
func (a *agent) free(why b2bua.Release) (offer string) {
	switch {
	case why == b2bua.ReleaseEnded && a.talking > 0:
		a.talking--
	case a.ringing > 0:
		a.ringing--
		offer = a.offer
		if a.ringing == 0 {
			a.offer = ""
		}
	case a.talking > 0:
		a.talking--
	}
	return offer
}
