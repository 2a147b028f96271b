package control

import (
	"slices"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// observed is one b2bua callback waiting for the worker, or a barrier (done
// set) that the worker closes once everything queued before it is recorded.
type observed struct {
	call  *b2bua.CallEvent
	sup   *b2bua.SupervisionEvent
	queue *b2bua.QueueEvent
	agent *b2bua.AgentEvent
	done  chan struct{}
}

// defaultEventQueue is the event queue's default capacity. A call makes
// about eight events (four of the call, four of its agent); at 3,000
// calls/s a worker held up for a second (a slow commit, the collector, a
// burst of CPU elsewhere) finds 24,000 waiting, and 4,096 lost most of
// them. An entry is five pointers: 2.6 MB for the whole queue.
const defaultEventQueue = 1 << 16

// maxBatch bounds how many queued events share one transaction.
const maxBatch = 1024

// batchWindow is how long the worker keeps gathering events after the
// first one of a batch. Every committed transaction costs an fsync and a
// meta page write, so under load one commit per window instead of one per
// handful of events is most of the control plane's share of a call. Call
// events feed history and the event stream, where a few milliseconds are
// invisible; a flush barrier ends the window at once.
const batchWindow = 20 * time.Millisecond

// busyBatch and busyWindow: after a batch of at least busyBatch events the
// worker gathers the next for busyWindow. Under a sustained call rate
// (hundreds of calls a second, four events each) the commits' own cost
// — a meta page write and an fsync each, about 5 % of earshot's CPU at
// 1,000 calls/s with 20 ms windows — shrinks fivefold, at the price of
// up to a tenth of a second before the event stream and history see a
// call. A quieter batch brings the short window back.
const (
	busyBatch  = 64
	busyWindow = 100 * time.Millisecond
)

// CallEvent implements b2bua.Observer. It only queues the event: the
// worker records it off the caller's goroutine. A full queue drops the
// event and counts it.
func (s *Service) CallEvent(ev b2bua.CallEvent) { s.enqueue(observed{call: &ev}) }

// SupervisionEvent implements b2bua.Observer, like CallEvent.
func (s *Service) SupervisionEvent(ev b2bua.SupervisionEvent) { s.enqueue(observed{sup: &ev}) }

func (s *Service) enqueue(o observed) {
	select {
	case s.events <- o:
	default:
		// Logged at powers of two so a flood cannot flood the log.
		if n := s.metrics.dropped.Add(1); n&(n-1) == 0 {
			s.log.Warn("event queue full; b2bua events dropped", "dropped", n)
		}
	}
}

// flush waits until every event queued before it has been recorded, or
// the service is closed. Tests use it instead of sleeping.
func (s *Service) flush() {
	done := make(chan struct{})
	select {
	case s.events <- observed{done: done}:
	case <-s.stop:
		return
	}
	select {
	case <-done:
	case <-s.stop:
	}
}

// worker records queued events in batches, one transaction per batch. On
// Close it records what is already queued, then exits.
func (s *Service) worker() {
	defer s.wg.Done()
	batch := make([]observed, 0, maxBatch)
	window := time.NewTimer(batchWindow)
	window.Stop()
	wait := batchWindow
	for {
		select {
		case o := <-s.events:
			batch = s.gather(append(batch[:0], o), window, wait)
			s.record(batch)
			wait = batchWindow
			if len(batch) >= busyBatch {
				wait = busyWindow
			}
		case <-s.stop:
			for {
				select {
				case o := <-s.events:
					s.record([]observed{o})
				default:
					return
				}
			}
		}
	}
}

// gather adds queued events to batch until it is full, wait has passed,
// a flush barrier arrives or the service stops.
func (s *Service) gather(batch []observed, window *time.Timer, wait time.Duration) []observed {
	if batch[0].done != nil {
		return batch
	}
	window.Reset(wait)
	defer window.Stop()
	for len(batch) < maxBatch {
		select {
		case o := <-s.events:
			batch = append(batch, o)
			if o.done != nil {
				return batch
			}
		case <-window.C:
			return batch
		case <-s.stop:
			return batch
		}
	}
	return batch
}

// record writes a batch and then, once committed, updates memory and the
// event stream.
func (s *Service) record(batch []observed) {
	var out effects
	var err error
	if slices.ContainsFunc(batch, writes) {
		err = s.update(batch, &out)
	}
	if err != nil {
		s.log.Error("recording events failed", "events", len(batch), "err", err)
	} else {
		s.apply(&out)
	}
	for _, o := range batch {
		switch {
		case o.done != nil:
			close(o.done)
		case o.call != nil:
			s.history.add(o.call)
			// A pointer into the queued event, which nothing changes
			// after: the snapshot by value would be copied into the
			// interface, four times per call.
			s.hub.publish(audience{tenant: o.call.Call.Tenant, supervisors: true},
				Event{Type: string(o.call.Type), Time: o.call.Time.UTC(), Data: &o.call.Call})
		case o.sup != nil:
			sp := o.sup.Supervision
			s.hub.publish(audience{tenant: sp.Tenant, supervisors: true},
				Event{Type: string(o.sup.Type), Time: o.sup.Time.UTC(), Data: supervisionEventView(o.sup)})
		case o.queue != nil:
			q := o.queue
			s.hub.publish(audience{tenant: q.Call.Tenant, supervisors: true},
				Event{Type: string(q.Type), Time: q.Time.UTC(), Data: queueEventView{Call: q.Call, Reason: q.Reason,
					WaitSeconds: q.Wait.Seconds(), Target: q.Target}})
		case o.agent != nil:
			a := o.agent
			// The agent sees its own state too.
			s.hub.publish(audience{tenant: a.Agent.Tenant, supervisors: true, users: []string{a.Agent.Extension}},
				Event{Type: EventAgentState, Time: a.Time.UTC(), Data: (*agentEventData)(a)})
		}
	}
}

// writes reports whether recording o touches the database: ringing and
// started events only feed memory and the stream, and a batch of only
// those needs no transaction (an empty bbolt commit still fsyncs).
func writes(o observed) bool {
	switch {
	case o.call != nil:
		return o.call.Type == b2bua.CallAnswered || o.call.Type == b2bua.CallEnded
	case o.agent != nil:
		return true
	case o.queue != nil:
		return o.queue.Type == b2bua.QueueLeft && o.queue.Reason == b2bua.LeftCallback
	case o.sup != nil:
		switch o.sup.Type {
		case b2bua.SupervisionStarted, b2bua.SupervisionModeChanged, b2bua.SupervisionRefused, b2bua.SupervisionEnded:
			return true
		}
	}
	return false
}

// update records a batch in one transaction, collecting what memory and
// the stream must learn once it commits.
func (s *Service) update(batch []observed, out *effects) error {
	defer s.metrics.eventTxs.Add(1)
	ended := endedIn(batch)
	return s.db.Update(func(tx *bolt.Tx) error {
		*out = effects{}
		for _, o := range batch {
			var err error
			switch {
			case o.call != nil && o.call.Type == b2bua.CallAnswered && ended[o.call.Call.ID]:
				// The ended snapshot goes under the same key in this
				// same transaction: encoding this one first is wasted.
			case o.call != nil:
				err = s.recordCall(tx, o.call, out)
			case o.sup != nil:
				err = s.recordSupervision(tx, o.sup, out)
			case o.agent != nil:
				err = s.recordAgent(tx, o.agent, out)
			case o.queue != nil && writes(o):
				err = s.recordCallback(tx, o.queue, out)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// endedIn is the set of calls with a call.ended event in batch, nil if
// none. Short calls often answer and end within one batch window.
func endedIn(batch []observed) map[string]bool {
	var ended map[string]bool
	for _, o := range batch {
		if o.call != nil && o.call.Type == b2bua.CallEnded {
			if ended == nil {
				ended = map[string]bool{}
			}
			ended[o.call.Call.ID] = true
		}
	}
	return ended
}

// effects are what a committed transaction changed, applied to memory,
// metrics and the event stream only after the commit.
type effects struct {
	audit  int
	helps  []*HelpRequest // changed help requests, in order
	events []helpEvent
}

type helpEvent struct {
	typ string
	h   *HelpRequest
}

func (s *Service) apply(e *effects) {
	s.metrics.audit.Add(uint64(e.audit))
	for _, h := range e.helps {
		s.setActive(h)
		s.metrics.helpTransition(h.Status)
	}
	for _, ev := range e.events {
		s.publishHelp(ev.typ, ev.h)
		s.notifyHelp(ev.typ, ev.h)
	}
}

func (s *Service) recordCall(tx *bolt.Tx, ev *b2bua.CallEvent, out *effects) error {
	// The queued event's own snapshot: a copy would escape with putCall's
	// pointer, twice per call.
	c := &ev.Call
	if ev.Type != b2bua.CallAnswered && ev.Type != b2bua.CallEnded {
		return nil
	}
	if err := putCall(tx, c); err != nil {
		return err
	}
	if ev.Type != b2bua.CallEnded {
		return nil
	}
	id, err := activeHelpOf(tx, c.Tenant, c.ID)
	if err != nil || id == "" {
		return err
	}
	h, err := getHelp(tx, c.Tenant, id)
	if err != nil || h == nil || !h.Status.active() {
		return err
	}
	h.end(HelpClosed, systemActor, CloseCallEnded, ev.Time.UTC())
	if err := putHelp(tx, h); err != nil {
		return err
	}
	if err := appendAudit(tx, &AuditRecord{Time: ev.Time, Tenant: h.Tenant, Actor: systemActor, Role: systemActor,
		Action: ActionHelpClosed, CallID: h.CallID, HelpRequestID: h.ID, Result: ResultOK, Detail: CloseCallEnded}); err != nil {
		return err
	}
	out.audit++
	out.helps = append(out.helps, h)
	out.events = append(out.events, helpEvent{EventHelpClosed, h})
	return nil
}

func (s *Service) recordSupervision(tx *bolt.Tx, ev *b2bua.SupervisionEvent, out *effects) error {
	sp := ev.Supervision
	rec := AuditRecord{Time: ev.Time, Tenant: sp.Tenant, Actor: sp.Supervisor, Role: s.dir.role(sp.Tenant, sp.Supervisor),
		CallID: sp.CallID, SupervisionID: sp.ID, Mode: string(sp.Mode), Via: sp.Via, Result: ResultOK}
	switch ev.Type {
	case b2bua.SupervisionStarted:
		rec.Action = ActionSupervisionStarted
	case b2bua.SupervisionModeChanged:
		rec.Action = ActionSupervisionSwitched
		rec.Detail = "from " + string(ev.Previous)
	case b2bua.SupervisionRefused:
		rec.Action, rec.Result, rec.Mode, rec.Detail = ActionSupervisionRefused, ResultRefused, string(ev.Requested), ev.Reason
	case b2bua.SupervisionEnded:
		rec.Action, rec.Detail = ActionSupervisionEnded, sp.EndReason
	default:
		return nil
	}
	if err := appendAudit(tx, &rec); err != nil {
		return err
	}
	out.audit++
	if sp.Mode == b2bua.ModeIntercept && (ev.Type == b2bua.SupervisionStarted || ev.Type == b2bua.SupervisionModeChanged) {
		ic := rec
		ic.Action, ic.Detail = ActionIntercept, "agent "+sp.Agent+" released"
		if err := appendAudit(tx, &ic); err != nil {
			return err
		}
		out.audit++
	}
	if (ev.Type == b2bua.SupervisionStarted || ev.Type == b2bua.SupervisionModeChanged) && sp.Via == b2bua.ViaFeatureCode {
		if err := s.acceptByDial(tx, ev, out); err != nil {
			return err
		}
	}
	if done := s.sups.observe(ev); done != nil {
		return putSupervision(tx, done)
	}
	return nil
}

// supervisionEventView is the stream's form of a supervision event.
func supervisionEventView(ev *b2bua.SupervisionEvent) any {
	return struct {
		Supervision b2bua.SupervisionSnapshot `json:"supervision"`
		Previous    b2bua.Mode                `json:"previous,omitempty"`
		Requested   b2bua.Mode                `json:"requested,omitempty"`
		Reason      string                    `json:"reason,omitempty"`
	}{ev.Supervision, ev.Previous, ev.Requested, ev.Reason}
}
