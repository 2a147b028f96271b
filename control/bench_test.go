package control

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkAuditWrite: one audit record per fsynced transaction, from 16
// concurrent writers, with Update (one commit each) and Batch (commits
// shared).
func BenchmarkAuditWrite(b *testing.B) {
	for _, batch := range []bool{false, true} {
		b.Run(map[bool]string{false: "update", true: "batch"}[batch], func(b *testing.B) {
			db, err := openDB(b.TempDir(), time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.SetParallelism(8) // 8 writers per core
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := AuditRecord{Time: t0, Tenant: "acme", Actor: "2001", Role: "supervisor", Action: ActionNote, CallID: "c1", Result: ResultOK}
					if err := write(db, batch, func(tx *bolt.Tx) error { return appendAudit(tx, &rec) }); err != nil {
						b.Error(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkHelpRequestOpenClose: the full HTTP path of opening and closing
// a help request (two fsynced transactions with their audit records),
// 16 agents in parallel.
func BenchmarkHelpRequestOpenClose(b *testing.B) {
	for _, batch := range []bool{false, true} {
		b.Run(map[bool]string{false: "update", true: "batch"}[batch], func(b *testing.B) {
			f := newFixture(b)
			f.svc.batch = batch
			for i := range 64 {
				f.sw.add(call(fmt.Sprintf("b%d", i), "acme", "support", "100", "1001", b2bua.StateAnswered))
			}
			var mu sync.Mutex
			free := make([]int, 64)
			for i := range free {
				free[i] = i
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					i := free[len(free)-1]
					free = free[:len(free)-1]
					mu.Unlock()
					var h HelpRequest
					f.must(201, "POST", "/api/v1/help-requests", tokAgent, fmt.Sprintf(`{"call_id":"b%d"}`, i)).decode(b, &h)
					f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/close", tokAgent, "")
					mu.Lock()
					free = append(free, i)
					mu.Unlock()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
		})
	}
}

// BenchmarkListCalls5000: GET /api/v1/calls with 5,000 live calls, half
// of them in the supervisor's tenant, p99 reported. The handler writes
// into a reused ResponseWriter that keeps nothing, so the figures are the
// handler's own (a recorder's growing body buffer is not). "unchanged":
// no call changed since the last list (each list reuses the encoded
// calls); "all-changed": the encoded calls are dropped before every list,
// as if every call had changed.
func BenchmarkListCalls5000(b *testing.B) {
	f := newFixture(b)
	fillLive(f, 5000)
	b.Run("unchanged", func(b *testing.B) { benchGet(b, f, "/api/v1/calls", tokSup, nil) })
	b.Run("all-changed", func(b *testing.B) {
		benchGet(b, f, "/api/v1/calls", tokSup, func() { f.svc.callJSON = callJSONCache{} })
	})
	// A page of 500 from the middle of the list, as a client paging it
	// reads each page.
	var mid CallList
	if r := f.do("GET", "/api/v1/calls?limit=1000", tokSup, ""); r.code != 200 || json.Unmarshal(r.body, &mid) != nil || mid.NextCursor == "" {
		b.Fatalf("first page: %d %.200s", r.code, r.body)
	}
	b.Run("page-500", func(b *testing.B) { benchGet(b, f, "/api/v1/calls?limit=500&cursor="+mid.NextCursor, tokSup, nil) })
}

// BenchmarkStats5000: GET /api/v1/stats (the tenant and each of its
// groups) with 5,000 live calls and an hour of history at 5 calls/s per
// tenant, p99 reported.
func BenchmarkStats5000(b *testing.B) {
	f := newFixture(b)
	fillLive(f, 5000)
	now := f.now()
	const perTenant = 5 * 3600
	for i := range perTenant {
		at := now.Add(-historyWindow + time.Duration(i)*historyWindow/perTenant)
		for _, tenant := range []string{"acme", "zeta"} {
			group := "support"
			if tenant == "acme" && i%3 == 0 {
				group = "sales"
			}
			f.svc.history.insert(outcome{at: at, tenant: tenant, group: group, answered: i%4 != 0,
				wait: time.Duration(i%40) * time.Second}, now)
		}
	}
	benchGet(b, f, "/api/v1/stats", tokSup, nil)
}

// fillLive puts n live calls into the fixture's switchboard, alternating
// tenants, groups and states (answered, ringing, queued).
func fillLive(f *fixture, n int) {
	now := f.now()
	for i := range n {
		tenant := []string{"acme", "zeta"}[i%2]
		group, number := "support", "100"
		if tenant == "acme" && i%6 == 0 {
			group, number = "sales", "200"
		}
		c := call(fmt.Sprintf("l%d", i), tenant, group, number, "1001", []b2bua.CallState{b2bua.StateAnswered,
			b2bua.StateAnswered, b2bua.StateRinging, b2bua.StateQueued}[i/2%4])
		c.StartedAt = now.Add(-time.Duration(i) * time.Second)
		f.sw.add(c)
	}
}

// benchGet serves GET path as token b.N times, reporting p50 and p99 of
// the handler's latency and the answer's size; before, if set, runs
// before each request, outside the latency measured.
func benchGet(b *testing.B, f *fixture, path, token string, before func()) {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := &discardWriter{h: http.Header{}}
	lat := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.code, w.n = 0, 0
		if before != nil {
			before()
		}
		start := time.Now()
		f.h.ServeHTTP(w, req)
		lat = append(lat, time.Since(start))
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(w.n), "resp-bytes")
}

// discardWriter is a ResponseWriter that counts the body and keeps
// nothing.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// BenchmarkSSEFanout100: one event delivered to 100 subscribers' streams
// over loopback, measured until the last one has read it.
func BenchmarkSSEFanout100(b *testing.B) {
	f := newFixture(b)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	defer f.svc.Close() // ends the streams first, so srv.Close does not wait on them
	const n = 100
	streams := make([]*stream, n)
	for i := range n {
		streams[i] = openStreamB(b, srv, tokSup)
	}
	ev := b2bua.CallEvent{Type: b2bua.CallAnswered, Time: t0, Call: call("c1", "acme", "support", "100", "1001", b2bua.StateAnswered)}
	b.ResetTimer()
	for b.Loop() {
		f.svc.CallEvent(ev)
		for _, s := range streams {
			if fr, ok := <-s.frames; !ok || fr.event != "call.answered" {
				b.Fatalf("got %+v", fr)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/event-to-100")
	if d := f.svc.Stats().SSEDropped; d != 0 {
		b.Errorf("%d subscribers dropped", d)
	}
}

// BenchmarkHistoryInsert: one call's outcome recorded with an hour of
// history at 100 calls/s (360,000 outcomes) in steady state, where every
// new outcome pushes an old one out of the hour.
func BenchmarkHistoryInsert(b *testing.B) {
	h := newHistory(nil)
	const perHour = 100 * 3600
	step := historyWindow / perHour
	at := t0
	for range perHour {
		at = at.Add(step)
		h.insert(outcome{at: at, tenant: "acme", group: "support", answered: true}, at)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		at = at.Add(step)
		h.insert(outcome{at: at, tenant: "acme", group: "support", answered: true}, at)
	}
	b.ReportMetric(float64(len(h.outcomes)), "kept")
}

// BenchmarkRecordCallEvents: what the control plane's worker spends on one
// call under a sustained call rate — its events recorded in batches of
// 150 calls (a 100 ms busy window at 1,500 calls/s): started, ringing,
// answered and ended, and the agent's four state changes (ringing, on
// call, wrap-up, available), each an audit record. One op is one call;
// the events are built with the timer stopped, as the b2bua builds them,
// so B/op and allocs/op are the recording's. pages/op is what bbolt wrote.
func BenchmarkRecordCallEvents(b *testing.B) {
	f := newFixture(b)
	const perBatch = 150
	batch := make([]observed, 0, perBatch*8)
	agent := b2bua.AgentStatus{Tenant: "acme", Extension: "1001", Name: "Ann", Role: "agent",
		Groups: []string{"support"}, Registered: true,
		Seconds: map[b2bua.AgentState]float64{b2bua.AgentAvailable: 12, b2bua.AgentOnCall: 30}}
	states := [...]b2bua.AgentState{b2bua.AgentAvailable, b2bua.AgentRinging, b2bua.AgentOnCall, b2bua.AgentWrapUp, b2bua.AgentAvailable}
	at := t0
	build := func(n int) {
		batch = batch[:0]
		for range n {
			at = at.Add(time.Millisecond)
			c := call(fmt.Sprintf("bench-%d", at.UnixMilli()), "acme", "support", "100", "1001", b2bua.StateRinging)
			c.StartedAt = at
			for _, typ := range [...]b2bua.CallEventType{b2bua.CallStarted, b2bua.CallRinging, b2bua.CallAnswered, b2bua.CallEnded} {
				switch typ {
				case b2bua.CallAnswered:
					c.State, c.AnsweredAt = b2bua.StateAnswered, at
				case b2bua.CallEnded:
					c.State, c.EndedAt = b2bua.StateEnded, at
				}
				batch = append(batch, observed{call: &b2bua.CallEvent{Type: typ, Time: at, Call: c}})
			}
			for i := 1; i < len(states); i++ {
				a := agent
				a.State, a.Since = states[i], at
				batch = append(batch, observed{agent: &b2bua.AgentEvent{Time: at, Agent: a, From: states[i-1]}})
			}
		}
	}
	before := f.svc.db.Stats().TxStats
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perBatch {
		b.StopTimer()
		build(min(perBatch, b.N-done))
		b.StartTimer()
		f.svc.record(batch)
	}
	after := f.svc.db.Stats().TxStats
	b.ReportMetric(float64(after.GetWrite()-before.GetWrite())/float64(b.N), "pages/op")
}
