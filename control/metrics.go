package control

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the control plane's counters, for a Prometheus
// collector the wiring registers (this package touches no registry).
type Stats struct {
	// Requests has one entry per route (method and path pattern, e.g.
	// "GET /api/v1/calls"), plus "unmatched" for 404/405 on unknown paths.
	Requests []RouteStats
	// HelpRequests counts transitions into each status since start
	// (opened → open, accepted → in_progress, ...): a counter per status.
	HelpRequests map[HelpStatus]uint64
	// HelpOpen and HelpInProgress are the requests active now: gauges.
	HelpOpen, HelpInProgress int
	// AuditRecords counts audit records committed since start.
	AuditRecords uint64
	// SSESubscribers is the number of event streams open now.
	SSESubscribers int
	// SSEDropped counts subscribers cut off for falling behind.
	SSEDropped uint64
	// EventsDropped counts b2bua events lost because the worker's queue
	// was full (history and audit miss them).
	EventsDropped uint64
	// PositionsShed counts queue position changes not sent to the event
	// streams because the worker's queue was three quarters full.
	PositionsShed uint64
}

// RouteStats is the traffic of one route.
type RouteStats struct {
	Route    string
	Statuses []StatusCount // only statuses seen, ascending
	Latency  Histogram
}

// StatusCount is the number of responses with one status.
type StatusCount struct {
	Status int // 0 stands for any status not listed in trackedStatuses
	Count  uint64
}

// Histogram is a latency distribution in Prometheus form.
type Histogram struct {
	Bounds []float64 // upper bounds, seconds, ascending; +Inf implied
	Counts []uint64  // cumulative: Counts[i] observations ≤ Bounds[i]
	Count  uint64
	Sum    float64 // seconds
}

const unmatchedRoute = "unmatched"

// latencyBounds are the histogram's upper bounds in seconds.
func latencyBounds() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
}

// trackedStatuses are the statuses the API answers; anything else counts
// under 0. A fixed set keeps the label values bounded.
func trackedStatuses() []int {
	return []int{200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 500, 503}
}

type routeMetrics struct {
	statuses [14]atomic.Uint64 // trackedStatuses, then other
	buckets  [12]atomic.Uint64 // latencyBounds, then +Inf; not cumulative
	count    atomic.Uint64
	sumNanos atomic.Int64
}

// metrics holds the counters. The route map is built once and only read
// afterwards; every counter is atomic, so recording takes no lock.
type metrics struct {
	routes      map[string]*routeMetrics
	order       []string
	helpByState [4]atomic.Uint64 // helpStatuses order
	audit       atomic.Uint64
	dropped     atomic.Uint64
	// positionsShed counts queue position changes shed (QueueEvent).
	positionsShed atomic.Uint64
	// eventTxs counts the event worker's committed transactions; tests
	// read it to see batching (the pruner commits on its own).
	eventTxs atomic.Uint64
}

func newMetrics(rs []route) *metrics {
	m := &metrics{routes: map[string]*routeMetrics{}}
	for _, rt := range rs {
		m.routes[rt.pattern()] = &routeMetrics{}
		m.order = append(m.order, rt.pattern())
	}
	m.routes[unmatchedRoute] = &routeMetrics{}
	m.order = append(m.order, unmatchedRoute)
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	rm := m.routes[route]
	if rm == nil {
		return
	}
	si := len(rm.statuses) - 1
	for i, s := range trackedStatuses() {
		if s == status {
			si = i
			break
		}
	}
	rm.statuses[si].Add(1)
	bi := len(rm.buckets) - 1
	for i, b := range latencyBounds() {
		if d.Seconds() <= b {
			bi = i
			break
		}
	}
	rm.buckets[bi].Add(1)
	rm.count.Add(1)
	rm.sumNanos.Add(int64(d))
}

func (m *metrics) helpTransition(s HelpStatus) {
	for i, hs := range helpStatuses() {
		if hs == s {
			m.helpByState[i].Add(1)
		}
	}
}

// Stats returns a snapshot of the service's counters.
func (s *Service) Stats() Stats {
	m := s.metrics
	st := Stats{
		HelpRequests:   map[HelpStatus]uint64{},
		AuditRecords:   m.audit.Load(),
		SSESubscribers: s.hub.count(),
		SSEDropped:     s.hub.dropped.Load(),
		EventsDropped:  m.dropped.Load(),
		PositionsShed:  m.positionsShed.Load(),
	}
	st.HelpOpen, st.HelpInProgress = s.activeCount()
	for i, hs := range helpStatuses() {
		st.HelpRequests[hs] = m.helpByState[i].Load()
	}
	bounds, codes := latencyBounds(), trackedStatuses()
	for _, name := range m.order {
		rm := m.routes[name]
		rs := RouteStats{Route: name, Latency: Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds))}}
		for i := range rm.statuses {
			if n := rm.statuses[i].Load(); n > 0 {
				code := 0
				if i < len(codes) {
					code = codes[i]
				}
				rs.Statuses = append(rs.Statuses, StatusCount{Status: code, Count: n})
			}
		}
		var cum uint64
		for i := range bounds {
			cum += rm.buckets[i].Load()
			rs.Latency.Counts[i] = cum
		}
		rs.Latency.Count = rm.count.Load()
		rs.Latency.Sum = time.Duration(rm.sumNanos.Load()).Seconds()
		st.Requests = append(st.Requests, rs)
	}
	return st
}
