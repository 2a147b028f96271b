package app

import (
	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/rtpengine"
	"github.com/prometheus/client_golang/prometheus"
	"slices"
)

// collector turns the Stats snapshots of the b2bua and the media engine
// into metrics at scrape time, so the hot paths only touch their counters.
type collector struct {
	sip   *b2bua.Server
	media *rtpengine.Engine

	activeCalls, registrations, callsTotal, sipRequests, sipResponses, sipSent          *prometheus.Desc
	dialogs, sipRefused, sipDropped, sipRetrans, mailboxFull                            *prometheus.Desc
	notifications, loadRefused, inputWait, behind                                       *prometheus.Desc
	setup                                                                               *prometheus.Desc
	rtpPackets, rtpBytes, rtcpPackets, rtpDropped, portsInUse, portsKept, mediaSessions *prometheus.Desc
	mediaTimeouts, webrtcHandshakes, webrtcFailures                                     *prometheus.Desc
	kernEnabled, kernStreams, kernPackets, kernBytes, kernHandovers, kernNoRoute        *prometheus.Desc
	kernTapLost, kernListener, ioUring                                                  *prometheus.Desc
}

func newCollector(sip *b2bua.Server, media *rtpengine.Engine) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("earshot_"+name, help, labels, nil)
	}
	return &collector{
		sip: sip, media: media,
		activeCalls:      d("calls_active", "Calls in the live call table."),
		registrations:    d("registrations", "Live registered contacts."),
		dialogs:          d("sip_dialogs", "Live SIP dialogs of calls: caller, callees while ringing, supervisors."),
		callsTotal:       d("calls_total", "Ended calls by outcome (end reason).", "outcome"),
		sipRequests:      d("sip_requests_received_total", "SIP requests received by method.", "method"),
		sipResponses:     d("sip_responses_sent_total", "SIP responses sent by status code.", "code"),
		sipSent:          d("sip_requests_sent_total", "SIP requests earshot originated, by method.", "method"),
		sipRefused:       d("sip_refused_total", "SIP requests refused for security reasons, by reason.", "reason"),
		sipDropped:       d("sip_dropped_total", "SIP messages dropped because they could not be parsed, or responses that matched no transaction, by kind.", "reason"),
		sipRetrans:       d("sip_retransmissions_total", "Retransmitted requests earshot handled after the SIP stack's transaction ended: answered (the final response sent again), absorbed (an INVITE answered 2xx) or acked (the ACK of a 503 sent while behind, without a transaction).", "kind"),
		loadRefused:      d("sip_load_refused_total", "New calls answered 503 for load, by reason: max_calls (sip.max_calls reached), behind (the SIP input fell behind, sip.overload) or draining (shutting down).", "reason"),
		inputWait:        d("sip_input_wait_seconds", "The least time a SIP datagram waited in its socket before earshot read it, over the overload watch's last window (UDP)."),
		behind:           d("sip_input_behind", "1 while the SIP input is behind and new calls are refused with 503 (sip.overload), else 0."),
		mailboxFull:      d("call_mailbox_full_total", "Events a call's full mailbox turned away: in-dialog requests answered 503, timer events retried."),
		notifications:    d("sip_notifications_total", "SIP MESSAGE notifications to users' phones, one per registered phone, by result: sent (2xx) or failed.", "result"),
		setup:            d("call_setup_seconds", "Time from INVITE received to 200 OK sent to the caller."),
		rtpPackets:       d("rtp_packets_relayed_total", "RTP packets sent (relayed or mixed), by the party they went to.", "direction"),
		rtpBytes:         d("rtp_bytes_relayed_total", "RTP and RTCP payload bytes sent, by the party they went to.", "direction"),
		rtcpPackets:      d("rtcp_packets_relayed_total", "RTCP packets relayed, by the party they went to.", "direction"),
		rtpDropped:       d("rtp_dropped_total", "Media packets dropped, by reason.", "reason"),
		portsInUse:       d("rtp_ports_in_use", "UDP ports bound for media."),
		portsKept:        d("rtp_ports_kept", "UDP ports of ended calls whose sockets stay bound for the next call."),
		mediaSessions:    d("media_sessions_active", "Media sessions open."),
		mediaTimeouts:    d("media_timeouts_total", "Calls hung up because no media arrived."),
		webrtcHandshakes: d("webrtc_handshakes_total", "DTLS-SRTP handshakes of WebRTC legs, by result.", "result"),
		webrtcFailures:   d("webrtc_transport_failures_total", "WebRTC legs ended because their transport failed after set-up, by reason.", "reason"),
		kernEnabled:      d("rtp_kernel_relay_enabled", "1 when the in-kernel relay is loaded; 0 when off or unavailable (the log says why)."),
		kernStreams:      d("rtp_kernel_streams", "RTP streams the kernel forwards now."),
		kernPackets:      d("rtp_kernel_packets_total", "RTP packets the kernel forwarded (also in earshot_rtp_packets_relayed_total)."),
		kernBytes:        d("rtp_kernel_bytes_total", "Payload bytes of those packets (also in earshot_rtp_bytes_relayed_total)."),
		kernHandovers:    d("rtp_kernel_handovers_total", "Streams handed to the kernel or taken back by userspace.", "to"),
		kernNoRoute:      d("rtp_kernel_no_route_total", "Packets the kernel found no route for and left to userspace."),
		kernListener:     d("rtp_kernel_listener_dropped_total", "Audio packets from listening supervisors' phones, which nobody hears, that the kernel dropped instead of waking earshot."),
		kernTapLost:      d("rtp_kernel_tap_lost_total", "Copies of kernel-forwarded packets a listening supervisor's mix did not get, by reason: ring_full or no_leg.", "reason"),
		ioUring:          d("media_io_uring_enabled", "1 when the path's sends are batched with io_uring (mixer: a worker's tick; relay: a receive loop's wait); 0 when off or unavailable (the log says why).", "path"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.activeCalls, c.registrations, c.dialogs, c.callsTotal, c.sipRequests,
		c.sipResponses, c.sipSent, c.sipRefused, c.sipDropped, c.sipRetrans, c.mailboxFull, c.notifications, c.loadRefused, c.inputWait, c.behind, c.setup, c.rtpPackets, c.rtpBytes, c.rtcpPackets, c.rtpDropped,
		c.portsInUse, c.portsKept, c.mediaSessions, c.mediaTimeouts, c.webrtcHandshakes, c.webrtcFailures,
		c.kernEnabled, c.kernStreams, c.kernPackets, c.kernBytes, c.kernHandovers, c.kernNoRoute, c.kernTapLost, c.kernListener, c.ioUring} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	ct := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	st := c.sip.Stats()
	g(c.activeCalls, float64(st.ActiveCalls))
	g(c.registrations, float64(st.Registrations))
	g(c.dialogs, float64(st.Dialogs))
	// Every outcome is exported, zero or not, so dashboards see each.
	for _, k := range b2bua.EndReasons {
		ct(c.callsTotal, float64(st.CallsByOutcome[k]), k)
	}
	for k, v := range st.CallsByOutcome {
		if !slices.Contains(b2bua.EndReasons, k) {
			ct(c.callsTotal, float64(v), k)
		}
	}
	for k, v := range st.Requests {
		ct(c.sipRequests, float64(v), k)
	}
	for k, v := range st.Responses {
		ct(c.sipResponses, float64(v), k)
	}
	for k, v := range st.Sent {
		ct(c.sipSent, float64(v), k)
	}
	ct(c.mailboxFull, float64(st.MailboxFull))
	ct(c.notifications, float64(st.NotifySent), "sent")
	ct(c.notifications, float64(st.NotifyFailed), "failed")
	// Every reason is exported, zero or not, so that alerts have a series.
	for _, r := range b2bua.DropReasons() {
		ct(c.sipDropped, float64(st.Dropped[r]), r)
	}
	for _, k := range []string{b2bua.RetransAnswered, b2bua.RetransAbsorbed, b2bua.RetransACKed} {
		ct(c.sipRetrans, float64(st.Retransmissions[k]), k)
	}
	for _, r := range []string{b2bua.LoadMaxCalls, b2bua.LoadBehind, b2bua.LoadDraining, b2bua.LoadMedia} {
		ct(c.loadRefused, float64(st.LoadRefused[r]), r)
	}
	g(c.inputWait, st.InputWait.Seconds())
	behind := 0.0
	if st.Behind {
		behind = 1
	}
	g(c.behind, behind)
	for _, r := range b2bua.Refusals() {
		ct(c.sipRefused, float64(st.Refused[string(r)]), string(r))
	}
	buckets := map[float64]uint64{}
	var cum uint64
	for i, b := range b2bua.SetupBuckets {
		cum += st.SetupCounts[i]
		buckets[b] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.setup, st.SetupCount, st.SetupSum, buckets)

	ms := c.media.Stats()
	for to := range rtpengine.NumParties {
		dir := "to_" + to.String() // to_caller, to_callee, to_supervisor
		ct(c.rtpPackets, float64(ms.RTPPacketsTo[to]), dir)
		ct(c.rtpBytes, float64(ms.BytesTo[to]), dir)
		ct(c.rtcpPackets, float64(ms.RTCPPacketsTo[to]), dir)
	}
	for reason, v := range map[string]uint64{"source": ms.Dropped.Source, "malformed": ms.Dropped.Malformed,
		"no_destination": ms.Dropped.NoDestination, "write_error": ms.Dropped.WriteError,
		"not_mixed": ms.Dropped.NotMixed, "mixer_full": ms.Dropped.MixerFull, "quarantine": ms.Dropped.Quarantine} {
		ct(c.rtpDropped, float64(v), reason)
	}
	g(c.portsInUse, float64(ms.PortsInUse))
	g(c.portsKept, float64(ms.PortsKept))
	g(c.mediaSessions, float64(ms.SessionsActive))
	ct(c.mediaTimeouts, float64(ms.MediaTimeouts))
	ct(c.webrtcHandshakes, float64(ms.WebRTC.Connected), "connected")
	ct(c.webrtcHandshakes, float64(ms.WebRTC.Failed), "failed")
	ct(c.webrtcFailures, float64(ms.WebRTC.Failed), "dtls_failed")
	ct(c.webrtcFailures, float64(ms.WebRTC.ICEFailed), "ice_failed")
	ct(c.webrtcFailures, float64(ms.WebRTC.PeerClosed), "closed")
	ct(c.webrtcFailures, float64(ms.WebRTC.ConsentExpired), "consent_expired")
	enabled := 0.0
	if ms.Kernel.Enabled {
		enabled = 1
	}
	g(c.kernEnabled, enabled)
	for path, on := range map[string]bool{"mixer": ms.IOUring.Enabled, "relay": ms.IOUring.Relay, "receive": ms.IOUring.Receive} {
		enabled = 0
		if on {
			enabled = 1
		}
		g(c.ioUring, enabled, path)
	}
	g(c.kernStreams, float64(ms.Kernel.Streams))
	ct(c.kernPackets, float64(ms.Kernel.Packets))
	ct(c.kernBytes, float64(ms.Kernel.Bytes))
	ct(c.kernHandovers, float64(ms.Kernel.Offloads), "kernel")
	ct(c.kernHandovers, float64(ms.Kernel.Returns), "userspace")
	ct(c.kernNoRoute, float64(ms.Kernel.NoRoute))
	ct(c.kernTapLost, float64(ms.Kernel.TapLost), "ring_full")
	ct(c.kernTapLost, float64(ms.Kernel.TapStray), "no_leg")
	ct(c.kernListener, float64(ms.Kernel.ListenerDropped))
}
