package app

import (
	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/b2bua/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// queueCollector exports the queues and agent states. Tenant and group
// labels come from the configuration, so their number is bounded.
type queueCollector struct {
	q                                   *queue.Queue
	waiting, joined, left, wait, agents *prometheus.Desc
	transitions                         *prometheus.Desc
}

// leftReasons are exported for every group, zero or not, so dashboards
// see each.
var leftReasons = []string{b2bua.LeftAnswered, b2bua.LeftAbandoned, b2bua.LeftOverflowed, b2bua.LeftTimedOut,
	b2bua.LeftCallback, b2bua.LeftEnded}

var agentStates = []b2bua.AgentState{b2bua.AgentAvailable, b2bua.AgentRinging, b2bua.AgentOnCall,
	b2bua.AgentWrapUp, b2bua.AgentPaused, b2bua.AgentLoggedOut}

func newQueueCollector(q *queue.Queue) *queueCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("earshot_"+name, help, labels, nil)
	}
	return &queueCollector{
		q:           q,
		waiting:     d("queue_waiting", "Callers waiting in the group's queue.", "tenant", "group"),
		joined:      d("queue_joined_total", "Callers who joined the group's queue.", "tenant", "group"),
		left:        d("queue_left_total", "Callers who left the group's queue, by reason.", "tenant", "group", "reason"),
		wait:        d("queue_wait_seconds", "Wait of callers who left the group's queue, from the call's start.", "tenant", "group"),
		agents:      d("agents", "Agents of the group, by state.", "tenant", "group", "state"),
		transitions: d("agent_state_changes_total", "Agent state changes, by new state.", "state"),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.joined, c.left, c.wait, c.agents, c.transitions} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.q.Stats()
	for _, g := range st.Groups {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(g.Waiting), g.Tenant, g.Group)
		ch <- prometheus.MustNewConstMetric(c.joined, prometheus.CounterValue, float64(g.Joined), g.Tenant, g.Group)
		for _, r := range leftReasons {
			ch <- prometheus.MustNewConstMetric(c.left, prometheus.CounterValue, float64(g.Left[r]), g.Tenant, g.Group, r)
		}
		buckets := map[float64]uint64{}
		var n uint64
		for i, b := range queue.WaitBuckets {
			n += g.WaitCounts[i]
			buckets[b] = n
		}
		n += g.WaitCounts[len(queue.WaitBuckets)]
		ch <- prometheus.MustNewConstHistogram(c.wait, n, g.WaitSum, buckets, g.Tenant, g.Group)
		for _, s := range agentStates {
			ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(g.Agents[s]), g.Tenant, g.Group, string(s))
		}
	}
	for _, s := range agentStates {
		ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(st.Transitions[s]), string(s))
	}
}
