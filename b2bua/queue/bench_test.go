package queue

import (
	"strconv"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// lineOf1000 is a queue whose one agent, 1001, is on a call, with 1,000
// callers ("0" to "999") waiting in group g of tenant t; req makes a
// caller's route request, whose wake-up calls woke with its id.
func lineOf1000(b *testing.B, obs b2bua.Observer, woke func(id string)) (*Queue, func(id string) b2bua.RouteRequest) {
	b.Helper()
	g := b2bua.Group{Name: "g", Agents: []string{"1001"}, Strategy: b2bua.RingAll, Numbers: []b2bua.Number{{Number: "100"}}}
	cfg := b2bua.Config{Tenants: []b2bua.Tenant{{Name: "t", Groups: []b2bua.Group{g},
		Users: []b2bua.User{{Extension: "1001", Role: "agent"}}}}}.WithDefaults()
	group := &cfg.Tenants[0].Groups[0]
	q := New(Config{Tenants: cfg.Tenants, Tick: time.Hour, Observer: obs})
	b.Cleanup(func() { q.Close() })
	req := func(id string) b2bua.RouteRequest {
		return b2bua.RouteRequest{CallID: id, Tenant: "t", Group: group, Since: time.Now(),
			Wake: func() bool { woke(id); return true }}
	}
	if d := q.Route(req("busy")); len(d.Agents) != 1 {
		b.Fatalf("first call: %+v", d)
	}
	q.Answered("busy", "t", "1001")
	for i := range 1000 {
		if d := q.Route(req(strconv.Itoa(i))); !d.Wait {
			b.Fatalf("caller %d: %+v", i, d)
		}
	}
	return q, req
}

// BenchmarkOfferWith1000Waiting is the queue's share of the offer latency
// with 1,000 callers waiting: an agent's call ends (Free), the queue plans
// and wakes the head of the line, whose call routes again and is given
// the agent. One op is that whole hand-over; a new caller joins the end
// each time so that 1,000 always wait.
func BenchmarkOfferWith1000Waiting(b *testing.B) {
	var woken string
	q, req := lineOf1000(b, nil, func(id string) { woken = id })
	next, head := 1000, 0
	b.ReportAllocs()
	for b.Loop() {
		q.Free("t", "1001", b2bua.ReleaseEnded)
		if woken != strconv.Itoa(head) {
			b.Fatalf("woke %q, want %d", woken, head)
		}
		if d := q.Route(req(woken)); len(d.Agents) != 1 {
			b.Fatalf("head %d: %+v", head, d)
		}
		b.StopTimer()
		q.Answered(woken, "t", "1001")
		q.Route(req(strconv.Itoa(next)))
		next++
		head++
		b.StartTimer()
	}
}

// BenchmarkLeaveWith1000Waiting: the caller at the head of a line of
// 1,000 hangs up, and each of the 999 behind moves up a place (a
// position event each). A new caller joins the end each time, outside
// the timing, so that 1,000 always wait.
func BenchmarkLeaveWith1000Waiting(b *testing.B) {
	moved := 0
	q, req := lineOf1000(b, queueObserver(func(ev b2bua.QueueEvent) {
		if ev.Type == b2bua.QueuePositionChanged {
			moved++
		}
	}), func(string) {})
	next, head := 1000, 0
	b.ReportAllocs()
	for b.Loop() {
		moved = 0
		q.Left(strconv.Itoa(head), b2bua.EndCallerHangup)
		if moved != 999 {
			b.Fatalf("%d callers moved up when the head left, want 999", moved)
		}
		b.StopTimer()
		q.Route(req(strconv.Itoa(next)))
		next++
		head++
		b.StartTimer()
	}
}

// queueObserver is an Observer that hands queue events to a function.
type queueObserver func(b2bua.QueueEvent)

func (queueObserver) CallEvent(b2bua.CallEvent)               {}
func (queueObserver) SupervisionEvent(b2bua.SupervisionEvent) {}
func (f queueObserver) QueueEvent(ev b2bua.QueueEvent)        { f(ev) }
func (queueObserver) AgentEvent(b2bua.AgentEvent)             {}
