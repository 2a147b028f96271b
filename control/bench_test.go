package control

import (
	"fmt"
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

// BenchmarkListCalls5000: GET /api/v1/calls with 5,000 live calls, p99
// reported.
func BenchmarkListCalls5000(b *testing.B) {
	f := newFixture(b)
	for i := range 5000 {
		tenant := []string{"acme", "zeta"}[i%2]
		f.sw.add(call(fmt.Sprintf("l%d", i), tenant, "support", "100", "1001", b2bua.StateAnswered))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		f.must(200, "GET", "/api/v1/calls", tokSup, "")
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
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
