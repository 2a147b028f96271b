package app

import (
	"strconv"

	"github.com/earshot/earshot/control"
	"github.com/prometheus/client_golang/prometheus"
)

// controlCollector exports the REST control plane's counters.
type controlCollector struct {
	ctl                                        *control.Service
	requests, latency, help, helpActive, audit *prometheus.Desc
	sse, sseDropped, eventsDropped             *prometheus.Desc
	positionsShed                              *prometheus.Desc
}

func newControlCollector(ctl *control.Service) *controlCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("earshot_"+name, help, labels, nil)
	}
	return &controlCollector{
		ctl:           ctl,
		requests:      d("api_requests_total", "REST API requests by route and status code.", "route", "code"),
		latency:       d("api_request_duration_seconds", "REST API request latency by route.", "route"),
		help:          d("help_requests_total", "Help requests entering each status.", "status"),
		helpActive:    d("help_requests_active", "Help requests open or in progress now, by status.", "status"),
		audit:         d("audit_records_total", "Audit records committed."),
		sse:           d("sse_subscribers", "Event streams (SSE) open now."),
		sseDropped:    d("sse_subscribers_dropped_total", "Event streams cut off for falling behind."),
		eventsDropped: d("control_events_dropped_total", "b2bua events the control plane lost because its queue was full."),
		positionsShed: d("control_queue_positions_shed_total", "Queue position changes not streamed because the control plane's event queue was three quarters full."),
	}
}

func (c *controlCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.latency, c.help, c.helpActive, c.audit, c.sse,
		c.sseDropped, c.eventsDropped, c.positionsShed} {
		ch <- d
	}
}

func (c *controlCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.ctl.Stats()
	ct := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	g := func(d *prometheus.Desc, v int, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), l...)
	}
	for _, r := range st.Requests {
		for _, sc := range r.Statuses {
			code := "other"
			if sc.Status != 0 {
				code = strconv.Itoa(sc.Status)
			}
			ct(c.requests, sc.Count, r.Route, code)
		}
		buckets := make(map[float64]uint64, len(r.Latency.Bounds))
		for i, b := range r.Latency.Bounds {
			buckets[b] = r.Latency.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, r.Latency.Count, r.Latency.Sum, buckets, r.Route)
	}
	for status, n := range st.HelpRequests {
		ct(c.help, n, string(status))
	}
	g(c.helpActive, st.HelpOpen, "open")
	g(c.helpActive, st.HelpInProgress, "in_progress")
	ct(c.audit, st.AuditRecords)
	g(c.sse, st.SSESubscribers)
	ct(c.sseDropped, st.SSEDropped)
	ct(c.eventsDropped, st.EventsDropped)
	ct(c.positionsShed, st.PositionsShed)
}
