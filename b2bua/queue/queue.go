package queue

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// Config is what a Queue needs. The zero value of an optional field means
// its default.
type Config struct {
	// Tenants are the users (with their roles) and groups (agents,
	// strategy, queue policy, wrap-up) the queue serves, with the
	// tenants' pause reasons; the same values b2bua runs on.
	Tenants []b2bua.Tenant
	// Observer receives queue and agent events. Nil: none.
	Observer b2bua.Observer
	// Tick is how often waiting callers and agents are checked (maximum
	// wait, announcements, expired registrations, wrap-up). Zero: 1s.
	Tick   time.Duration
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Queue is the b2bua.Router and b2bua.AgentControl of a contact centre:
// see the package documentation.
type Queue struct {
	cfg      Config
	presence func(tenant, ext string) bool // set once by SetPresence, before use

	mu      sync.Mutex          // guards everything below
	agents  map[string]*agent   // tenant/extension, every configured user
	lines   map[string]*line    // tenant/group
	calls   map[string]*entry   // call id
	reasons map[string][]string // tenant → pause reasons
	seq     uint64
	totals  totals
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a queue for cfg and starts its ticker; Close stops it.
func New(cfg Config) *Queue {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = b2bua.NopObserver()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		cfg:      cfg,
		presence: func(string, string) bool { return true },
		agents:   map[string]*agent{},
		lines:    map[string]*line{},
		calls:    map[string]*entry{},
		reasons:  map[string][]string{},
		stop:     make(chan struct{}),
	}
	now := cfg.Now()
	for _, t := range cfg.Tenants {
		q.reasons[t.Name] = slices.Clone(t.PauseReasons)
		for _, u := range t.Users {
			q.agents[key(t.Name, u.Extension)] = &agent{tenant: t.Name, user: u, state: b2bua.AgentLoggedOut,
				since: now, seconds: map[b2bua.AgentState]time.Duration{}}
		}
		for _, g := range t.Groups {
			q.lines[key(t.Name, g.Name)] = &line{tenant: t.Name, group: g}
			for _, ext := range g.Agents {
				if a := q.agents[key(t.Name, ext)]; a != nil {
					a.groups = append(a.groups, g.Name)
				}
			}
		}
	}
	q.wg.Add(1)
	go q.run()
	return q
}

// SetPresence tells the queue how to know whether a user has a registered
// phone (b2bua.Server.Registered). Call it once, before calls arrive.
func (q *Queue) SetPresence(registered func(tenant, ext string) bool) {
	q.mu.Lock()
	q.presence = registered
	q.mu.Unlock()
}

// Close stops the ticker and waits for it. Idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	q.wg.Wait()
	return nil
}

func key(tenant, name string) string { return tenant + "/" + name }

// run ticks until Close.
func (q *Queue) run() {
	defer q.wg.Done()
	t := time.NewTicker(q.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			q.tick()
		}
	}
}

// tick sends callers past their maximum wait to the overflow, plays due
// announcements, refreshes agent states and wakes whom the plans serve.
func (q *Queue) tick() {
	var out outbox
	q.mu.Lock()
	now := q.cfg.Now()
	for _, l := range q.lines {
		p := l.group.Queue
		for _, e := range slices.Clone(l.entries) {
			if !e.queued {
				continue
			}
			if p.MaxWait > 0 && now.Sub(e.queuedAt) >= p.MaxWait {
				x := p.Overflow
				x.Why = b2bua.LeftTimedOut
				q.drop(e, now, b2bua.LeftTimedOut, x.Target(), &out)
				out.exits = append(out.exits, exitCall{e.req.Exit, x})
				continue
			}
			if p.AnnounceInterval > 0 && !now.Before(e.announce) {
				e.announce = now.Add(p.AnnounceInterval)
				out.announces = append(out.announces, announceCall{e.req.Announce, e.announcement(false)})
			}
		}
	}
	q.refresh(now, &out)
	q.mu.Unlock()
	out.send(q.cfg.Observer)
}

// refresh publishes every agent's state if it changed (registrations
// expire, wrap-up ends) and wakes whom the plans serve. Caller holds q.mu.
func (q *Queue) refresh(now time.Time, out *outbox) {
	for _, a := range q.agents {
		q.settle(a, now, "", out)
	}
	for _, l := range q.lines {
		q.wakePlanned(l, now, nil, out)
	}
}

// settle publishes a's state if it changed. Caller holds q.mu.
func (q *Queue) settle(a *agent, now time.Time, actor string, out *outbox) {
	if ev, ok := a.settle(now, q.presence(a.tenant, a.user.Extension), actor); ok {
		out.agentEvents = append(out.agentEvents, ev)
		q.totals.transition(ev.Agent.State)
	}
}

// drop takes e out of its line and the call table, publishing its leaving
// if it was queued and the new positions of those behind. Caller holds
// q.mu.
func (q *Queue) drop(e *entry, now time.Time, why, target string, out *outbox) {
	l := e.line
	l.remove(e)
	delete(q.calls, e.req.CallID)
	if !e.queued {
		if why == b2bua.LeftOverflowed {
			q.totals.left(l, why, 0)
			out.queueEvents = append(out.queueEvents, b2bua.QueueEvent{Type: b2bua.QueueLeft, Time: now,
				Call: e.view(), Reason: why, Wait: now.Sub(e.req.Since), Target: target})
		}
		return
	}
	wait := now.Sub(e.req.Since)
	q.totals.left(l, why, wait)
	v := e.view()
	v.Position = e.position
	out.queueEvents = append(out.queueEvents, b2bua.QueueEvent{Type: b2bua.QueueLeft, Time: now, Call: v,
		Reason: why, Wait: wait, Target: target})
	q.publishPositions(l, now, out)
}

// publishPositions publishes every queued caller of l whose position
// changed. Caller holds q.mu. It counts the positions in one walk of the
// line: asking each caller's position of the line (a walk each) made a
// caller's leaving cost the square of the line's length under the
// queue's lock, 1 ms with 1,000 waiting (BenchmarkLeaveWith1000Waiting),
// and every call's routing and ending queued behind it.
func (q *Queue) publishPositions(l *line, now time.Time, out *outbox) {
	// The events are large and, when the head leaves, one per caller:
	// counted first, they are made room for once.
	moved, p := 0, 0
	for _, o := range l.entries {
		if o.queued {
			p++
			if p != o.position {
				moved++
			}
		}
	}
	out.queueEvents = slices.Grow(out.queueEvents, moved)
	p = 0
	for _, o := range l.entries {
		if !o.queued {
			continue
		}
		p++
		if p != o.position {
			o.position = p
			out.queueEvents = append(out.queueEvents, b2bua.QueueEvent{Type: b2bua.QueuePositionChanged, Time: now, Call: o.viewAt(p)})
		}
	}
}

// outbox collects what the queue tells calls and observers, to be sent
// after q.mu is released.
type outbox struct {
	wakes       []func() bool
	announces   []announceCall
	exits       []exitCall
	queueEvents []b2bua.QueueEvent
	agentEvents []b2bua.AgentEvent
}

type announceCall struct {
	fn func(b2bua.Announcement) bool
	a  b2bua.Announcement
}

type exitCall struct {
	fn func(b2bua.Exit) bool
	x  b2bua.Exit
}

// send makes the collected calls. Callbacks may be nil (a request built
// by a test or a router user that does not wait).
func (o *outbox) send(obs b2bua.Observer) {
	for _, ev := range o.agentEvents {
		obs.AgentEvent(ev)
	}
	for _, ev := range o.queueEvents {
		obs.QueueEvent(ev)
	}
	for _, x := range o.exits {
		if x.fn != nil {
			x.fn(x.x)
		}
	}
	for _, a := range o.announces {
		if a.fn != nil {
			a.fn(a.a)
		}
	}
	for _, w := range o.wakes {
		if w != nil {
			w()
		}
	}
}
