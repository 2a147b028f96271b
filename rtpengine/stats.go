package rtpengine

import "sync/atomic"

// Stats is a snapshot of the engine's counters, cheap enough to read at
// every metrics scrape. Packet and drop counters are totals since New,
// including sessions that have since closed.
type Stats struct {
	SessionsActive int    // sessions created and not yet closed
	PortsInUse     int    // UDP ports bound by sessions (4 per session)
	RTPPackets     uint64 // RTP packets relayed
	RTCPPackets    uint64 // RTCP packets relayed
	BytesRelayed   uint64 // UDP payload bytes of relayed RTP and RTCP
	Dropped        Drops  // packets received and not relayed, by reason
	MediaTimeouts  uint64 // sessions whose onTimeout was called
}

// Drops counts dropped packets by reason.
type Drops struct {
	Source        uint64 // from an address other than the latched peer
	Malformed     uint64 // not valid RTP/RTCP, or too large for the buffer
	NoDestination uint64 // the other leg has no address to send to yet
	WriteError    uint64 // sending to the other leg failed
}

// counters are a session's live counters, written by its reader goroutines
// with atomics only. Keeping them per session (not per engine) keeps the
// readers of different calls off each other's cache lines; Stats adds them up.
type counters struct {
	rtpPackets    atomic.Uint64
	rtcpPackets   atomic.Uint64
	bytes         atomic.Uint64
	dropSource    atomic.Uint64
	dropMalformed atomic.Uint64
	dropNoDest    atomic.Uint64
	dropWrite     atomic.Uint64
}

// addTo adds the counters to st.
func (c *counters) addTo(st *Stats) {
	st.RTPPackets += c.rtpPackets.Load()
	st.RTCPPackets += c.rtcpPackets.Load()
	st.BytesRelayed += c.bytes.Load()
	st.Dropped.Source += c.dropSource.Load()
	st.Dropped.Malformed += c.dropMalformed.Load()
	st.Dropped.NoDestination += c.dropNoDest.Load()
	st.Dropped.WriteError += c.dropWrite.Load()
}
