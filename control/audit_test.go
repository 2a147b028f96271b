package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// TestAuditEncoderMatchesJSON: an audit record is stored as exactly the
// bytes encoding/json writes for it, and reads back the same.
func TestAuditEncoderMatchesJSON(t *testing.T) {
	db, err := openDB(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	odd := "q\"\\\x00\x1f\u2028\xff</script>&ü€😀"
	for i, rec := range []AuditRecord{
		{Time: t0, Tenant: "acme", Actor: "2001", Role: "supervisor", Action: ActionNote, CallID: "c1", Result: ResultOK},
		{Time: t0.Add(123456789 * time.Nanosecond).In(time.FixedZone("x", 3600)), Tenant: "acme", Actor: systemActor,
			Role: systemActor, Action: ActionAgentState, Result: ResultOK, Detail: "1001: available -> ringing"},
		{Time: t0, Tenant: odd, Actor: odd, Role: odd, Action: odd, CallID: odd, HelpRequestID: odd,
			SupervisionID: odd, Mode: odd, Via: odd, Result: odd, Detail: odd},
		{Tenant: "acme", Actor: "2001", Role: "admin", Action: ActionIntercept, SupervisionID: "s1", Mode: "barge", Via: "dtmf"},
		{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.Local), Tenant: "t", Result: ResultFailed, HelpRequestID: "h"},
	} {
		var got []byte
		err := db.Update(func(tx *bolt.Tx) error {
			if err := appendAudit(tx, &rec); err != nil {
				return err
			}
			b, err := tenantBucket(tx, bucketAudit, rec.Tenant, false)
			if err != nil {
				return err
			}
			_, v := b.Cursor().Last()
			got = bytes.Clone(v)
			return nil
		})
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want, err := json.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d stored\n%s\nencoding/json\n%s", i, got, want)
		}
		// Invalid UTF-8 reads back as U+FFFD, so the record is compared
		// with what encoding/json's own bytes read back as.
		var back, ref AuditRecord
		if err := json.Unmarshal(got, &back); err != nil || json.Unmarshal(want, &ref) != nil ||
			!back.Time.Equal(rec.Time) || back.ID != rec.ID || back != ref {
			t.Fatalf("record %d read back %+v (%v), stored %+v", i, back, err, rec)
		}
	}
	bad := AuditRecord{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Tenant: "t"}
	if err := db.Update(func(tx *bolt.Tx) error { return appendAudit(tx, &bad) }); err == nil {
		t.Fatal("a record of the year 10000 was stored")
	}
}

// TestAgentEventFrame: an agent's state change reaches a supervisor's
// stream and the agent's own as its view — agent, from, actor — encoded
// as before the payload became a pointer to the queued event; another
// agent does not get it.
func TestAgentEventFrame(t *testing.T) {
	f := newFixture(t)
	sup, _ := f.svc.hub.subscribe(Principal{Tenant: "acme", User: "2001", Role: RoleSupervisor})
	own, _ := f.svc.hub.subscribe(Principal{Tenant: "acme", User: "1001", Role: RoleAgent})
	other, _ := f.svc.hub.subscribe(Principal{Tenant: "acme", User: "1002", Role: RoleAgent})
	ev := b2bua.AgentEvent{Time: t0, From: b2bua.AgentOnCall, Actor: "2001", Reason: "lunch",
		Agent: b2bua.AgentStatus{Tenant: "acme", Extension: "1001", Name: "Ann <&>", Role: "agent",
			Groups: []string{"support"}, Registered: true, State: b2bua.AgentPaused, Reason: "lunch", Since: t0,
			Seconds: map[b2bua.AgentState]float64{b2bua.AgentOnCall: 1.5}, Missed: 2}}
	f.svc.AgentEvent(ev)
	f.svc.flush()
	data, err := json.Marshal(Event{Type: EventAgentState, Time: t0,
		Data: agentEventView{Agent: ev.Agent, From: ev.From, Actor: ev.Actor}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("event: %s\ndata: %s\n\n", EventAgentState, data)
	for _, sub := range []*subscriber{sup, own} {
		select {
		case got := <-sub.ch:
			if string(got) != want {
				t.Fatalf("%s got\n%s\nwant\n%s", sub.p.User, got, want)
			}
		default:
			t.Fatalf("%s got no frame", sub.p.User)
		}
	}
	select {
	case got := <-other.ch:
		t.Fatalf("another agent got %s", got)
	default:
	}
}

// TestAppendedBucketsPacked: the buckets written in time order keep their
// pages about full (appendFill) rather than half empty, so a commit
// writes about half the pages it would at bbolt's default. Calls are
// stored answered, then ended a batch later, as under load.
func TestAppendedBucketsPacked(t *testing.T) {
	db, err := openDB(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := t0
	var answered []b2bua.CallSnapshot
	for batch := range 40 {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, c := range answered {
				c.State, c.EndedAt, c.EndReason = b2bua.StateEnded, at, "caller hung up"
				if err := putCall(tx, &c); err != nil {
					return err
				}
			}
			answered = answered[:0]
			for i := range 50 {
				at = at.Add(time.Millisecond)
				c := call(fmt.Sprintf("c%d-%d", batch, i), "acme", "support", "100", "1001", b2bua.StateAnswered)
				c.StartedAt, c.AnsweredAt = at, at
				if err := putCall(tx, &c); err != nil {
					return err
				}
				answered = append(answered, c)
				for range 4 {
					rec := AuditRecord{Time: at, Tenant: "acme", Actor: systemActor, Role: systemActor,
						Action: ActionAgentState, Result: ResultOK, Detail: "1001: available -> ringing"}
					if err := appendAudit(tx, &rec); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{bucketCalls, bucketAudit} {
			b, err := tenantBucket(tx, top, "acme", false)
			if err != nil || b == nil {
				t.Fatalf("%s: %v", top, err)
			}
			st := b.Stats()
			fill := float64(st.LeafInuse) / float64(st.LeafPageN*db.Info().PageSize)
			t.Logf("%s: %d keys in %d leaf pages, %.0f %% used", top, st.KeyN, st.LeafPageN, 100*fill)
			if fill < 0.75 {
				t.Errorf("%s: leaf pages %.0f %% used, want ≥ 75 %%", top, 100*fill)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
