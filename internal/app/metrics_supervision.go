package app

import (
	"github.com/earshot/earshot/b2bua"
	"github.com/prometheus/client_golang/prometheus"
)

// supervisionCollector exports the supervision counters of the b2bua.
type supervisionCollector struct {
	sip                                *b2bua.Server
	active, started, refused, switches *prometheus.Desc
}

func newSupervisionCollector(sip *b2bua.Server) *supervisionCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("earshot_"+name, help, labels, nil)
	}
	return &supervisionCollector{
		sip:      sip,
		active:   d("supervisions_active", "Supervisors attached to calls, by current mode.", "mode"),
		started:  d("supervisions_started_total", "Supervisions started, by initial mode.", "mode"),
		refused:  d("supervisions_refused_total", "Refused supervision joins and mode switches, by the mode asked for.", "mode"),
		switches: d("supervision_mode_switches_total", "Supervision mode changes, by new mode.", "mode"),
	}
}

func (c *supervisionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.started, c.refused, c.switches} {
		ch <- d
	}
}

func (c *supervisionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sip.Stats()
	// Every mode is exported, zero or not, so dashboards see all four.
	for _, m := range b2bua.Modes {
		l := string(m)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(st.SupervisionsActive[m]), l)
		ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(st.SupervisionsStarted[m]), l)
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.SupervisionsRefused[m]), l)
		ch <- prometheus.MustNewConstMetric(c.switches, prometheus.CounterValue, float64(st.ModeSwitches[m]), l)
	}
}
