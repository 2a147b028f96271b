package rtpengine

import (
	"sync/atomic"

	"github.com/earshot/earshot/mixer"
)

// Stats is a snapshot of the engine's counters, cheap enough to read at
// every metrics scrape. Packet and drop counters are totals since New,
// including sessions that have since closed.
type Stats struct {
	SessionsActive int    // sessions created and not yet closed
	MixedSessions  int    // of those, sessions on the mix path now
	PortsInUse     int    // UDP ports bound by sessions and their extra legs
	PortsKept      int    // ports of ended legs whose sockets stay bound for the next call (ports.go)
	RTPPackets     uint64 // RTP packets sent: relayed, mixer frames, forwarded telephone-events
	RTCPPackets    uint64 // RTCP packets relayed
	BytesRelayed   uint64 // UDP payload bytes of the RTP and RTCP sent
	MixerPackets   uint64 // received RTP audio packets handed to the mixer
	MixerFrames    uint64 // of RTPPackets, frames the mixer produced
	Dropped        Drops  // packets received and not sent or mixed, by reason
	MediaTimeouts  uint64 // sessions whose onTimeout was called
	// RTPPackets, RTCPPackets and BytesRelayed by the Party the packets
	// went to (they add up to them). earshot sends no RTCP to
	// supervisors: RTCPPacketsTo[Supervisor] stays 0.
	RTPPacketsTo  [NumParties]uint64
	RTCPPacketsTo [NumParties]uint64
	BytesTo       [NumParties]uint64
	// WebRTC counts the DTLS handshakes of WebRTC legs by outcome.
	WebRTC WebRTCStats
	// Mixer is the mixer pool's own snapshot: workers, tick lateness,
	// jitter-buffer counters and delays.
	Mixer mixer.Stats
	// Kernel is the in-kernel relay's share (kernelpath.go).
	Kernel KernelStats
	// IOUring says whether the mixer's workers send their frames in
	// batches with io_uring (mixsend.go).
	IOUring IOUringStats
}

// IOUringStats describes the mixer's batched sends.
type IOUringStats struct {
	Enabled     bool   // each worker sends a tick's frames in one system call
	Relay       bool   // each receive loop sends what it relays from one wait in one system call (not with the in-kernel relay)
	Receive     bool   // each receive loop reads the packets of one wait in one system call
	Unavailable string // why not, when Config.IOUring asked for it; "" otherwise
}

// KernelStats describes the in-kernel relay. Its packets and bytes are
// also in RTPPackets, RTPPacketsTo, BytesRelayed and BytesTo, added when
// the engine reads the kernel's counters: at each Stats call and each
// media-timeout check, and when a stream returns to userspace.
type KernelStats struct {
	Enabled     bool   // the program is loaded and attached
	Unavailable string // why not, when Config.KernelRelay asked for it; "" otherwise
	Interfaces  []string
	Streams     int    // streams the kernel forwards now
	Packets     uint64 // RTP packets the kernel forwarded
	Bytes       uint64 // their UDP payload bytes
	Offloads    uint64 // streams handed to the kernel
	Returns     uint64 // streams taken back by userspace
	NoRoute     uint64 // packets the kernel had no route for: userspace relayed them and keeps the stream
	// Copies of kernel-forwarded packets for the mix (a listened call):
	// lost for want of room in the ring, or for no leg (its call ended).
	TapLost, TapStray uint64
	// ListenerDropped: audio from listening supervisors' phones, which
	// nobody hears, that the kernel dropped instead of waking the process
	// (counted when the listener stops listening or the engine reads it).
	ListenerDropped uint64
}

// WebRTCStats counts how WebRTC legs' transports fared.
type WebRTCStats struct {
	Connected uint64 // DTLS-SRTP handshakes done: SRTP keys in place, media flows
	Failed    uint64 // handshakes failed: wrong fingerprint, no common SRTP profile, timeout
	// Transports reported failed (Session.OnTransportFailed) other than
	// by a failed handshake: no valid ICE check in time, the peer closed
	// DTLS, consent not refreshed.
	ICEFailed      uint64
	PeerClosed     uint64
	ConsentExpired uint64
}

// Drops counts dropped packets by reason.
type Drops struct {
	Source        uint64 // from an address other than the latched peer
	Malformed     uint64 // not valid RTP/RTCP, or too large for the buffer
	NoDestination uint64 // the receiving leg has no address to send to yet
	WriteError    uint64 // sending failed
	// NotMixed counts RTP that has nowhere to go on the mix path: audio
	// from a supervisor leg not attached, and payload types the mixer
	// does not take (comfort noise, a codec other than the negotiated one).
	NotMixed uint64
	// MixerFull counts audio the mixer refused because its inbox was full.
	MixerFull uint64
	// Quarantine counts packets that reached a port resting between
	// calls (a finished call's late packets, or strays): read and dropped.
	Quarantine uint64
}

// counters are a session's live counters, written by the readers of its
// sockets and its mixer sink with atomics only. Keeping them per session (not per
// engine) keeps the readers of different calls off each other's cache
// lines; Stats adds them up.
type counters struct {
	rtpPackets    [NumParties]atomic.Uint64
	rtcpPackets   [NumParties]atomic.Uint64
	bytes         [NumParties]atomic.Uint64
	mixerIn       atomic.Uint64
	mixerOut      atomic.Uint64
	dropSource    atomic.Uint64
	dropMalformed atomic.Uint64
	dropNoDest    atomic.Uint64
	dropWrite     atomic.Uint64
	dropNotMixed  atomic.Uint64
	dropMixerFull atomic.Uint64
	kernPackets   atomic.Uint64
	kernBytes     atomic.Uint64
}

// addTo adds the counters to st.
func (c *counters) addTo(st *Stats) {
	for d := range NumParties {
		rtp, rtcp, bytes := c.rtpPackets[d].Load(), c.rtcpPackets[d].Load(), c.bytes[d].Load()
		st.RTPPacketsTo[d] += rtp
		st.RTCPPacketsTo[d] += rtcp
		st.BytesTo[d] += bytes
		st.RTPPackets += rtp
		st.RTCPPackets += rtcp
		st.BytesRelayed += bytes
	}
	st.MixerPackets += c.mixerIn.Load()
	st.MixerFrames += c.mixerOut.Load()
	st.Dropped.Source += c.dropSource.Load()
	st.Dropped.Malformed += c.dropMalformed.Load()
	st.Dropped.NoDestination += c.dropNoDest.Load()
	st.Dropped.WriteError += c.dropWrite.Load()
	st.Dropped.NotMixed += c.dropNotMixed.Load()
	st.Dropped.MixerFull += c.dropMixerFull.Load()
	st.Kernel.Packets += c.kernPackets.Load()
	st.Kernel.Bytes += c.kernBytes.Load()
}
