package control

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// dump is every key and value of the database, nested buckets flattened.
func dump(t *testing.T, db *bolt.DB) []byte {
	t.Helper()
	var out bytes.Buffer
	var walk func(prefix string, b *bolt.Bucket)
	walk = func(prefix string, b *bolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(prefix+string(k)+"/", b.Bucket(k))
				return nil
			}
			out.WriteString(prefix + string(k) + "=" + string(v) + "\n")
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { walk(string(name)+"/", b); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestWritesMatchesRecording: the batch filter skips the transaction for
// exactly the events whose recording leaves the database unchanged, so
// skipping it loses nothing.
func TestWritesMatchesRecording(t *testing.T) {
	f := newFixture(t)
	s := f.svc
	c := call("w1", "acme", "support", "100", "1001", b2bua.StateAnswered)
	ended := c
	ended.State, ended.EndedAt, ended.EndReason = b2bua.StateEnded, t0, "caller"
	sp := b2bua.SupervisionSnapshot{ID: "s1", Tenant: "acme", CallID: "w1", Supervisor: "2001", Agent: "1001", Mode: b2bua.ModeListen}
	batches := []observed{
		{call: &b2bua.CallEvent{Type: b2bua.CallStarted, Time: t0, Call: c}},
		{call: &b2bua.CallEvent{Type: b2bua.CallRinging, Time: t0, Call: c}},
		{call: &b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: c}},
		{call: &b2bua.CallEvent{Type: b2bua.CallAgentChanged, Time: t0, Call: c}},
		{sup: &b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: sp}},
		{sup: &b2bua.SupervisionEvent{Type: b2bua.SupervisionModeChanged, Time: t0, Supervision: sp, Previous: b2bua.ModeWhisper}},
		{sup: &b2bua.SupervisionEvent{Type: b2bua.SupervisionRefused, Time: t0, Supervision: sp, Requested: b2bua.ModeBarge, Reason: "busy"}},
		{sup: &b2bua.SupervisionEvent{Type: b2bua.SupervisionEnded, Time: t0, Supervision: sp}},
		{call: &b2bua.CallEvent{Type: b2bua.CallEnded, Time: t0, Call: ended}},
	}
	for _, o := range batches {
		name := ""
		if o.call != nil {
			name = string(o.call.Type)
		} else {
			name = string(o.sup.Type)
		}
		before := dump(t, s.db)
		var out effects
		if err := s.update([]observed{o}, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if changed := !bytes.Equal(before, dump(t, s.db)); changed != writes(o) {
			t.Errorf("%s: recording changed the database: %v, writes says %v", name, changed, writes(o))
		}
	}
}

// TestRecordSkipsReadOnlyBatches: a batch of ringing events commits no
// transaction, and the stream still sees it.
func TestRecordSkipsReadOnlyBatches(t *testing.T) {
	f := newFixture(t)
	s := f.svc
	c := call("r1", "acme", "support", "100", "1001", b2bua.StateRinging)
	before := s.metrics.eventTxs.Load()
	s.CallEvent(b2bua.CallEvent{Type: b2bua.CallStarted, Time: t0, Call: c})
	s.CallEvent(b2bua.CallEvent{Type: b2bua.CallRinging, Time: t0, Call: c})
	s.flush()
	if got := s.metrics.eventTxs.Load(); got != before {
		t.Errorf("ringing events committed %d transactions", got-before)
	}
	s.CallEvent(b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: c})
	s.flush()
	if got := s.metrics.eventTxs.Load(); got != before+1 {
		t.Errorf("an answered call committed %d transactions, want 1", got-before)
	}
}

// TestEventsShareOneCommit: events arriving within batchWindow of the
// first are recorded in one transaction (group commit), and the window
// closes on its own without a flush.
func TestEventsShareOneCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		s := f.svc
		before := s.metrics.eventTxs.Load()
		const n = 20
		for i := range n {
			c := call("g"+string(rune('a'+i)), "acme", "support", "100", "1001", b2bua.StateAnswered)
			s.CallEvent(b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: c})
		}
		// Fake time: the window ends only once everything else is blocked.
		time.Sleep(2 * batchWindow)
		synctest.Wait()
		if got := s.metrics.eventTxs.Load(); got != before+1 {
			t.Errorf("%d events committed %d transactions, want 1", n, got-before)
		}
		db := dump(t, s.db)
		for i := range n {
			if id := `"g` + string(rune('a'+i)) + `"`; !bytes.Contains(db, []byte(id)) {
				t.Errorf("call %s not recorded", id)
			}
		}
	})
}

// TestAnsweredAndEndedInOneBatch: a call that answers and ends within one
// batch is stored as it ended, exactly as if the events came one by one.
func TestAnsweredAndEndedInOneBatch(t *testing.T) {
	one, both := newFixture(t), newFixture(t)
	c := call("b1", "acme", "support", "100", "1001", b2bua.StateAnswered)
	ended := c
	ended.State, ended.EndedAt, ended.EndReason = b2bua.StateEnded, t0, "caller"
	answered := observed{call: &b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: c}}
	end := observed{call: &b2bua.CallEvent{Type: b2bua.CallEnded, Time: t0, Call: ended}}
	var out effects
	for _, b := range [][]observed{{answered}, {end}} {
		if err := one.svc.update(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	if err := both.svc.update([]observed{answered, end}, &out); err != nil {
		t.Fatal(err)
	}
	a, b := dump(t, one.svc.db), dump(t, both.svc.db)
	if !bytes.Equal(a, b) {
		t.Errorf("one batch stored\n%s\none by one\n%s", b, a)
	}
	if !bytes.Contains(b, []byte(`"b1"`)) || !bytes.Contains(b, []byte(`"ended"`)) {
		t.Errorf("the ended call is not stored: %s", b)
	}
}

// TestBusyBatchesWaitLonger: after a batch of busyBatch events or more
// the worker gathers the next for busyWindow (fewer commits under a
// sustained rate); after a small batch, for batchWindow again.
func TestBusyBatchesWaitLonger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		s := f.svc
		answer := func(prefix string, n int) {
			for i := range n {
				c := call(prefix+strconv.Itoa(i), "acme", "support", "100", "1001", b2bua.StateAnswered)
				s.CallEvent(b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: c})
			}
		}
		before := s.metrics.eventTxs.Load()
		// after lets fake time pass d and checks the commits so far.
		after := func(d time.Duration, want uint64, what string) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if got := s.metrics.eventTxs.Load() - before; got != want {
				t.Fatalf("%s: %d transactions, want %d", what, got, want)
			}
		}
		answer("busy", busyBatch)
		after(2*batchWindow, 1, "a busy batch")
		// The next batch waits busyWindow: not yet committed after the
		// short window.
		answer("next", 1)
		after(2*batchWindow, 1, "the batch after a busy one, within the short window")
		after(busyWindow, 2, "the batch after a busy one, after busyWindow")
		// That batch was small: the one after it closes in batchWindow.
		answer("quiet", 1)
		after(2*batchWindow, 3, "the batch after a small one")
	})
}

// TestEventQueueAbsorbsStall: the worker held up for a while (here by a
// write transaction that keeps bbolt's lock) while a second's worth of
// events at 3,000 calls/s arrives loses none of them.
func TestEventQueueAbsorbsStall(t *testing.T) {
	f := newFixture(t)
	s := f.svc
	hold, held := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.db.Update(func(*bolt.Tx) error { close(held); <-hold; return nil })
	}()
	<-held
	ended := call("st0", "acme", "support", "100", "1001", b2bua.StateEnded)
	ended.EndedAt, ended.EndReason = t0, "caller"
	// The worker takes this one and waits for the lock.
	s.CallEvent(b2bua.CallEvent{Type: b2bua.CallEnded, Time: t0, Call: ended})
	const n = 24000
	for i := range n {
		c := call("st"+strconv.Itoa(i+1), "acme", "support", "100", "1001", b2bua.StateRinging)
		s.CallEvent(b2bua.CallEvent{Type: b2bua.CallRinging, Time: t0, Call: c})
	}
	close(hold)
	s.flush()
	if d := s.metrics.dropped.Load(); d != 0 {
		t.Fatalf("%d of %d events dropped while the worker waited", d, n+1)
	}
}

// TestPositionChangesGiveWay: with the worker held up and its queue three
// quarters full, position changes are shed (counted) while a call's end,
// an agent's state and a caller's leaving still get in and are recorded.
func TestPositionChangesGiveWay(t *testing.T) {
	f := newFixtureMod(t, func(c *Config) { c.EventQueue = 64 })
	s := f.svc
	hold, held := make(chan struct{}), make(chan struct{})
	var release sync.Once
	unhold := func() { release.Do(func() { close(hold) }) }
	defer unhold() // a failure must not leave the worker waiting
	go func() {
		_ = s.db.Update(func(*bolt.Tx) error { close(held); <-hold; return nil })
	}()
	<-held
	qc := b2bua.QueuedCall{CallID: "q1", Tenant: "acme", Group: "support", Position: 2}
	position := func() { s.QueueEvent(b2bua.QueueEvent{Type: b2bua.QueuePositionChanged, Time: t0, Call: qc}) }
	// The worker takes the first event and waits for the lock; 47 more
	// fill the queue to one short of three quarters.
	ended := call("gw0", "acme", "support", "100", "1001", b2bua.StateEnded)
	ended.EndedAt, ended.EndReason = t0, "caller"
	s.CallEvent(b2bua.CallEvent{Type: b2bua.CallEnded, Time: t0, Call: ended})
	// A barrier ends the worker's batch at once: once it has taken both,
	// it records them and waits for the lock, taking no more.
	s.events <- observed{done: make(chan struct{})}
	for deadline := time.Now().Add(5 * time.Second); len(s.events) != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not take the first events")
		}
	}
	for range 47 {
		position()
	}
	if st := s.Stats(); st.PositionsShed != 0 || st.EventsDropped != 0 {
		t.Fatalf("below three quarters: %d shed, %d dropped", st.PositionsShed, st.EventsDropped)
	}
	position()
	position()
	if st := s.Stats(); st.PositionsShed != 1 || st.EventsDropped != 0 {
		t.Fatalf("at three quarters: %d shed, %d dropped; want 1 and 0", st.PositionsShed, st.EventsDropped)
	}
	for range 15 {
		position()
	}
	// The last quarter is for the rest: 16 events get in.
	for i := range 15 {
		c := call("gw"+strconv.Itoa(i+1), "acme", "support", "100", "1001", b2bua.StateEnded)
		c.EndedAt, c.EndReason = t0, "caller"
		s.CallEvent(b2bua.CallEvent{Type: b2bua.CallEnded, Time: t0, Call: c})
	}
	s.QueueEvent(b2bua.QueueEvent{Type: b2bua.QueueLeft, Time: t0, Call: qc, Reason: b2bua.LeftAbandoned})
	if st := s.Stats(); st.PositionsShed != 16 || st.EventsDropped != 0 || len(s.events) != 64 {
		t.Fatalf("past three quarters: %d shed, %d dropped, %d queued; want 16, 0, 64", st.PositionsShed, st.EventsDropped, len(s.events))
	}
	unhold()
	s.flush()
	var list CallList
	f.must(200, "GET", "/api/v1/calls?state=ended&limit=100", tokSup, "").decode(t, &list)
	got := map[string]bool{}
	for _, c := range list.Calls {
		got[c.ID] = true
	}
	for i := range 16 {
		if id := "gw" + strconv.Itoa(i); !got[id] {
			t.Fatalf("call %s's end not recorded: %v", id, got)
		}
	}
}
