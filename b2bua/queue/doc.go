// Package queue is earshot's contact-centre queue: the b2bua.Router that
// keeps callers waiting when every agent of their group is busy, and the
// state of every agent (available, ringing, on_call, wrap_up, paused,
// logged_out).
//
// # How a call meets an agent
//
// b2bua asks Route for agents whenever a call to a group needs some: when
// it starts, after an offer nobody took, and when the queue wakes it. Each
// call is an entry of its group's line from its first Route until it is
// answered or leaves. Entries are ordered by the business number's
// priority (higher first) and then by arrival. Route plans, in that order,
// which free agents each entry that is not being offered would get by the
// group's strategy (ring-all: every free agent it has not tried this
// round; round-robin and longest-idle: one), and holds for the asking
// call only what the plan gives it: so a caller never overtakes one who
// waits ahead of it, and entries ahead that the plan served are woken to
// ask for themselves. An entry that gets nothing joins the queue (Decision
// Wait: b2bua answers the caller and plays music) unless the group's
// policy sends it to its overflow at once (queue disabled, full, or no
// agent logged in).
//
// When an agent becomes available — its call ended and wrap-up passed,
// an offer to it ended, it unpaused, logged in or registered — the queue
// wakes the entries the plan now serves. An agent that does not answer
// is freed with b2bua.ReleaseNoAnswer: the entry is offered to the next
// agent, and an agent that missed the group's MaxMissed offers in a row is
// paused with reason no_answer. When every free agent has been tried for
// an entry, a new round starts.
//
// # Time
//
// One goroutine ticks every Config.Tick for the whole queue (not one per
// caller): it sends callers who waited longer than the group's MaxWait to
// their overflow, asks the calls due for an announcement to play one
// (position and estimated wait — the average wait of the group's recent
// answered callers), refreshes the agents' states (registrations expire
// without telling anyone, wrap-up ends) and wakes calls as a safety net
// against a lost wake-up. The music and prompts themselves are played by
// the media engine on its mixer clock.
//
// # Concurrency
//
// Every method may be called from any goroutine; one mutex guards all the
// state. Callbacks into calls (Wake, Announce, Exit) and observer events
// are collected under the mutex and made after releasing it, so the queue
// never calls out while locked. The state is in memory: a restart drops
// waiting calls, as it drops live ones. A multi-node deployment would put
// lines and agents behind the same methods in a shared store.
package queue
