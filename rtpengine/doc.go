// Package rtpengine is earshot's media transport: it anchors the RTP and
// RTCP of every call in earshot's own UDP sockets and relays packets between
// the two legs of a call (0 = caller, 1 = callee).
//
// # API and ownership
//
// An Engine (New) owns a port range and every Session it creates. A Session
// (Engine.NewSession) owns two RTP/RTCP socket pairs — even RTP port, RTCP
// one above — bound on Config.BindAddr. The signalling layer drives it with
// SDP as opaque bytes: Offer(from, sdp) takes the offer received on leg from
// and returns the offer to send on the other leg, Answer(from, sdp) the same
// for answers. The rewritten SDP points at Config.AdvertisedAddr and the
// session's port on the leg it is sent to, carries earshot's own o= line
// (session id fixed per leg, version bumped whenever the SDP sent on that
// leg changes) and keeps codecs, ptime and direction (so hold passes), while
// everything describing the far peer's transport (ICE, a=rtcp, rtcp-mux,
// crypto) is dropped. Only the first plain-RTP audio stream is anchored;
// other m-lines are rejected with port 0. Errors carry SIPStatus(): 400 for
// unparseable SDP, 488 for SDP earshot cannot take, 503 for port exhaustion.
// The package imports nothing of earshot's; it satisfies the signalling
// layer's media interfaces through a small adapter written by the wiring code.
//
// Released ports rest for Config.PortQuarantine before reuse, so late
// packets of a finished call never reach a new one; a port another program
// holds is skipped.
//
// # Goroutines
//
// Each session runs four reader goroutines, one per socket. A reader owns
// its read buffer, validates each packet, applies latching, rewrites the
// header in place and writes it out of the other leg's socket. Session.Close
// closes the sockets, which ends the reads, then waits for the four readers;
// only then are the ports released. The engine runs one more goroutine, the
// media-timeout watcher, which Engine.Close stops and waits for after closing
// every session. No goroutine outlives Close.
//
// The reader path takes no lock shared with other calls: destinations are
// immutable peer values behind an atomic.Pointer (swapped by SDP handling and
// by latching), counters are per-session atomics summed by Engine.Stats at
// scrape time, and the read buffer is reused, so nothing allocates per
// packet. SDP handling is serialised by the session's own mutex, which the
// readers never take.
//
// # Latching and strict source
//
// Until a packet arrives on a socket, earshot sends to the address from SDP.
// The first valid packet received latches its source as the peer — the
// destination follows it, which makes NATed phones work — and from then on
// packets from any other source are dropped and counted (Drops.Source). Any
// new SDP on a leg (re-INVITE, another callee answering) re-opens latching
// on that leg. RTP and RTCP latch independently.
//
// # Output-stream continuity and the mixer hand-over
//
// Each leg has one outStream: the RTP stream earshot sends to that leg's
// phone, with an SSRC chosen at session creation that never changes. Every
// packet sent on the leg goes through outStream.rewrite, which maps the
// input's sequence number and timestamp by two offsets. When the input
// changes identity (new SSRC: the callee was replaced) or jumps (sequence
// beyond RFC 3550's dropout/misorder bounds, or a timestamp far from what
// the wall clock predicts: the caller restarted its stream), the offsets are
// recomputed so the output continues at the highest sequence number sent
// plus one and at that packet's timestamp plus the media time elapsed since;
// the marker bit flags the re-base. The phone therefore sees one continuous
// stream for the whole call.
//
// The mixer will take over sending on a leg through the same type: it holds
// the leg's *outStream and, for every frame it sends, builds the packet with
// its own input identity (an SSRC of its own, its own sequence and media
// clock) and calls rewrite. To the stream that is simply a new input, so the
// switch relay → mix is a re-base with no gap or jump, and so is the switch
// back. The outStream's mutex makes the hand-over safe without any other
// coordination: whichever side sends takes it for the rewrite, and the
// relay reader, once told that a leg is mixed (not built yet), will stop
// sending on it and hand its packets to the mixer instead. OutState (in Snapshot) exposes the
// stream's current SSRC, sequence number and timestamp for diagnostics.
//
// RTCP is relayed between the legs' RTCP sockets with the same latching. The
// sender SSRC of SR/RR and the sender's SDES chunk become the output leg's
// SSRC, an SR's RTP timestamp moves into the output stream's timestamp space,
// and report blocks about the stream earshot sends are turned back into
// reports about the stream the other phone actually sends. Malformed RTCP is
// dropped and counted; the parser never panics (it is fuzzed).
//
// # Media timeout
//
// The watcher checks all sessions about once a second. A session is armed
// once it has seen an offer and an answer; it times out when neither leg has
// delivered an accepted RTP or RTCP packet for Config.MediaTimeout since the
// later of arming and the last packet. onTimeout is then called once, from
// the watcher goroutine, and must not block. A call on hold (a=inactive on
// both sides) survives as long as RTCP flows; a call where only one side
// still sends is not timed out.
package rtpengine
