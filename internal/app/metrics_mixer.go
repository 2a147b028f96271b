package app

import (
	"github.com/earshot/earshot/mixer"
	"github.com/earshot/earshot/rtpengine"
	"github.com/prometheus/client_golang/prometheus"
)

// mixerCollector exports the mix path: mixed sessions, the workers' tick
// lateness and the jitter buffers' counters and delay.
type mixerCollector struct {
	media                                  *rtpengine.Engine
	mixed, frames, lateness, output, delay *prometheus.Desc
	jbFrames, jbPackets, skipped, mixerIn  *prometheus.Desc
	inboxDropped                           *prometheus.Desc
}

func newMixerCollector(media *rtpengine.Engine) *mixerCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("earshot_"+name, help, labels, nil)
	}
	return &mixerCollector{
		media:        media,
		mixed:        d("mixed_sessions", "Calls on the mix path now (a supervisor attached, or codecs differ)."),
		frames:       d("mixer_frames_sent_total", "20 ms frames the mixer produced and sent."),
		mixerIn:      d("mixer_packets_received_total", "RTP audio packets handed to the mixer."),
		lateness:     d("mixer_tick_lateness_seconds", "How late each mixer worker tick started after its deadline."),
		output:       d("mixer_output_lateness_seconds", "How late after its deadline each mixer worker tick had written its last frame."),
		skipped:      d("mixer_ticks_skipped_total", "Ticks given up because a worker fell too far behind."),
		inboxDropped: d("mixer_inbox_dropped_total", "Packets dropped because a leg's mixer inbox was full."),
		delay:        d("jitter_buffer_delay_seconds", "Playout delay of each mixed leg's jitter buffer (depth × 20 ms), observed every tick."),
		jbFrames:     d("jitter_buffer_frames_total", "Frames played out by the jitter buffers, by kind.", "kind"),
		jbPackets:    d("jitter_buffer_packets_total", "Packets the jitter buffers handled specially, by kind.", "kind"),
	}
}

func (c *mixerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.mixed, c.frames, c.mixerIn, c.lateness, c.output, c.skipped, c.inboxDropped,
		c.delay, c.jbFrames, c.jbPackets} {
		ch <- d
	}
}

func (c *mixerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.media.Stats()
	m := st.Mixer
	ct := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	ch <- prometheus.MustNewConstMetric(c.mixed, prometheus.GaugeValue, float64(st.MixedSessions))
	ct(c.frames, st.MixerFrames)
	ct(c.mixerIn, st.MixerPackets)
	ct(c.skipped, m.SkippedTicks)
	ct(c.inboxDropped, m.InboxDropped)
	ch <- constHistogram(c.lateness, m.TickLateness)
	ch <- constHistogram(c.output, m.OutputLateness)
	ch <- constHistogram(c.delay, m.JitterDelay)
	j := m.Jitter
	for kind, v := range map[string]uint64{"played": j.Played, "concealed": j.Concealed,
		"inserted": j.Inserted, "silence": j.Silence} {
		ct(c.jbFrames, v, kind)
	}
	for kind, v := range map[string]uint64{"late": j.Late, "duplicate": j.Duplicate, "reordered": j.Reordered,
		"overflow": j.DroppedOverflow, "ssrc_change": j.SSRCChanges, "resync": j.Resyncs} {
		ct(c.jbPackets, v, kind)
	}
}

// constHistogram turns a mixer histogram (per-bucket counts, durations)
// into a Prometheus one (cumulative counts, seconds).
func constHistogram(d *prometheus.Desc, h mixer.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets)
}
