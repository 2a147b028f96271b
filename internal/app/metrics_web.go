package app

import (
	"github.com/earshot/earshot/control/web"
	"github.com/prometheus/client_golang/prometheus"
)

// webCollector exports the browser workspace's sessions and sign-in
// failures.
type webCollector struct {
	w                         *web.Workspace
	sessions, failed, refused *prometheus.Desc
}

func newWebCollector(w *web.Workspace) *webCollector {
	return &webCollector{
		w:        w,
		sessions: prometheus.NewDesc("earshot_web_sessions", "Workspace (browser) sessions signed in now.", nil, nil),
		failed:   prometheus.NewDesc("earshot_web_login_failures_total", "Workspace sign-ins refused for a wrong extension or password.", nil, nil),
		refused:  prometheus.NewDesc("earshot_web_login_throttled_total", "Workspace sign-ins refused because their source failed too often.", nil, nil),
	}
}

func (c *webCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.failed
	ch <- c.refused
}

func (c *webCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.w.Stats()
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.LoginFailures))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.LoginRefused))
}
