// Package rtpengine is earshot's media transport: it anchors the RTP and
// RTCP of every call in earshot's own UDP sockets and relays packets between
// the two legs of a call (0 = caller, 1 = callee), or mixes them with
// supervisors' legs through the mixer package.
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
// crypto) is dropped. Only the first plain-RTP audio stream is anchored —
// or, in an offer on leg 0 or 1, the first WebRTC one (UDP/TLS/RTP/SAVPF):
// earshot then terminates ICE-lite, DTLS-SRTP and SRTP on that leg through
// the rtpengine/webrtc package and writes WebRTC's attributes into the SDP
// it sends there, while the other leg sees plain RTP/AVP (webrtc.go,
// sdpwebrtc.go). Other m-lines are rejected with port 0. Errors carry
// SIPStatus(): 400 for unparseable SDP, 488 for SDP earshot cannot take,
// 503 for port exhaustion.
// Supervisors join through extra legs: Session.NewLeg allocates one (its
// own port pair), Leg.AnswerOffer / Leg.Offer / Leg.TakeAnswer negotiate
// G.711 and telephone-event with the supervisor's phone, Leg.Attach puts it
// in the mix in a mixer.Mode, Leg.Promote completes an intercept and
// Leg.Close takes it away; Session.Cue plays a short tone to one leg. The
// package imports only mixer; it satisfies the signalling layer's media
// interfaces through a small adapter written by the wiring code.
//
// Released ports rest for Config.PortQuarantine before reuse, so late
// packets of a finished call never reach a new one; a port another program
// holds is skipped.
//
// # Goroutines
//
// Packets are received by a few receive loops the engine starts in New
// (recvLoops), not by a goroutine per socket: on Linux Config.ReceiveLoops
// goroutines (by default one per P but one), each owning a level-triggered
// epoll instance that watches the sockets of many legs. Every leg — the two of NewSession and each
// extra leg of Session.NewLeg — puts its RTP and RTCP socket on one loop,
// chosen round-robin, before the leg is published. For each socket a wait
// reports readable, the loop reads one datagram into its own buffer and
// runs the packet path on it (onRTP, onRTCP): validate, apply latching
// and then, for the caller or callee, rewrite the header in place and
// write it out of the other leg's socket (relay) and/or hand the payload
// to the mixer (mix). The socket's reader in the rest of this package
// means that loop. A socket still holding datagrams is reported again by
// the next wait, so every socket gets its turn. At 50 packets/s a socket
// is idle between almost every packet; a goroutine per socket paid a
// netpoller wake-up and a goroutine switch per packet, a loop pays one
// wake-up for every socket that became ready meanwhile — and with the
// goroutine stacks and read buffers gone, a call costs far less memory.
// One loop serves its sockets in turn, which is why nothing on the packet
// path blocks (onDigit included).
//
// With Config.DedicatedReceive each loop also has a P of its own: the
// engine raises GOMAXPROCS by one per loop while it runs, and a loop
// waits in a raw epoll_pwait the runtime does not track, so a wake-up
// does not have to win a P back (recvLoop.wait). The runtime still stops
// the world by signalling the loop's thread, which ends the wait with
// EINTR.
//
// Media sockets on Linux are non-blocking and kept out of Go's netpoller
// (which would otherwise be woken by every datagram too); reads and writes
// are single raw system calls on loop-owned or stack buffers, so nothing
// allocates per packet. A send the kernel refuses because the socket's
// buffer is full is dropped and counted as a write error, never queued.
// Where io_uring works (Config.IOUring, mixsend.go) the sends are batched:
// a loop reads each ready socket into a buffer of its own, queues what it
// relays, and sends it all in one system call once the wait's events are
// handled; a mixer worker does the same with the frames of a tick. A wait
// that reports two or more sockets is read in one system call too, before
// the packet path runs on any of its packets (recvbatch_linux.go). A
// stream's packet queued in one batch is sent before another writer (the
// mixer, a loop) rewrites the stream's next one (outStream.waitQueued).
//
// Closing a leg (Leg.Close, the old callee in Promote, Session.Close for
// all) closes its sockets. Each is first taken off its loop, which waits
// out a batch in progress and voids any event already reported for it (an
// event names a slot and its generation, never a file descriptor); then
// writers in progress — the relay of the other leg, the mixer's sink —
// are waited for, and only then is the descriptor closed, so a number the
// kernel hands out again never gets another socket's reads or writes.
// Only after that are the leg's ports released. Elsewhere than Linux (and
// on linux/386) each socket keeps its own reader goroutine blocked in the
// netpoller; closing the socket ends it and the leg waits for it.
//
// On a WebRTC leg every datagram of the RTP socket goes through the leg's
// webrtc.Transport first (STUN answered, DTLS queued, SRTP decrypted in
// place) on the same loop; the transport owns one goroutine for its DTLS
// handshake, stopped and waited for when the leg closes.
//
// The engine runs one more goroutine, the media-timeout watcher, and owns
// one mixer.Pool (Config.Mixer: about one worker per core) started by New;
// Engine.Close closes every session, then stops the watcher, the pool and
// the receive loops and waits for all of them. No goroutine outlives Close.
//
// The packet path takes no lock shared with other calls but its loop's
// own, once per batch of events (add and remove, run by control
// operations, take it too): destinations and negotiated media are
// immutable values behind atomic pointers (swapped by SDP handling and
// latching), the caller/callee pair and the list of legs are copy-on-write
// slices behind atomic pointers (swapped by NewLeg, Promote, Close),
// counters are per-session atomics summed by Engine.Stats at scrape time,
// and the read buffer is reused, so nothing allocates per packet. Control
// operations (SDP, NewLeg, Attach, Promote, Close, Cue) are serialised by
// the session's own mutex, which neither the loops nor the mixer worker
// ever take; the mixer's own RemoveLeg and Close, which wait for a tick in
// progress, are therefore safe to call under it. Legs are closed outside
// that mutex anyway, so that control calls do not wait while a loop
// finishes its batch.
//
// # Latching and strict source
//
// Until a packet arrives on a socket, earshot sends to the address from SDP.
// A valid packet from a source the leg's SDP or signalling vouches for
// latches that source as the peer — the destination follows it, which makes
// NATed phones work — and from then on packets from any other source are
// dropped and counted (Drops.Source). Which sources qualify, and why the
// first sender does not (RTP bleed), is told in latch.go. New SDP naming
// another address (re-INVITE, another callee answering) re-opens latching
// on that leg. RTP and RTCP latch independently; extra legs latch too.
// A WebRTC leg does not latch: the source of the ICE check that selected
// the peer becomes its RTP and RTCP destination, and the only source
// accepted (webrtc.go).
//
// # Output-stream continuity and the mixer hand-over
//
// Each leg has one outStream: the RTP stream earshot sends to that leg's
// phone, with an SSRC chosen at leg creation that never changes. Every
// packet sent on the leg goes through it, which maps the input's sequence
// number and timestamp by two offsets. When the input changes identity
// (new SSRC: the callee was replaced, or relay and mixer took turns) or
// jumps (sequence beyond RFC 3550's dropout/misorder bounds, or a timestamp
// far from what the wall clock predicts: the caller restarted its stream),
// the offsets are recomputed so the output continues at the highest
// sequence number sent plus one and at that packet's timestamp plus the
// media time elapsed since; the marker bit flags the re-base. The phone
// therefore sees one continuous stream for the whole call. OutState (in
// Snapshot) exposes the stream's current SSRC, sequence number and
// timestamp.
//
// Who sends on a leg is decided under the outStream's own mutex: the relay
// writes through relay, the mixer's sink through mix, and each is refused
// while the other owns the stream, so relayed packets and mixed frames can
// never interleave.
//
// # Relay and mix
//
// A call is relayed until it needs the mixer: while a supervisor leg is
// attached (Leg.Attach), while a leg hears a playback (Play: music and
// prompts), while the caller's and callee's negotiated codecs differ (the
// two G.711 laws: transcoding), and after an intercept (Promote). Session.reconcile, run at the end of
// every control operation, derives the mixer's legs from that state: the
// caller as customer, the callee as agent, every attached leg as supervisor
// in its mode, each in the G.711 variant negotiated on it (for the caller
// and callee, the first G.711 format of the answer). It creates the mixer
// session on the first need and closes it when the last need goes.
//
// relay → mix: the readers of the caller and callee start pushing their
// audio (only the negotiated payload type) into the mixer while still
// relaying, and the sink discards the mixer's frames for those two legs
// during a priming period (Config.Jitter's minimum depth plus two frames,
// 80 ms by default). Then the sink claims each stream: the mixer's first
// frame on the wire already plays buffered audio, not the silence of a
// jitter buffer filling up, and the stream re-bases seamlessly. The price is
// that the listener hears the last few tens of milliseconds again (the
// jitter buffer's delay), which is far less audible than a gap. A supervisor
// leg has no relay to hand over from: the mixer sends to it from its first
// frame.
//
// Bypass: the mixer makes frames only for legs that need a mix. A pair leg
// that hears the other party alone — the customer and the agent under a
// listening supervisor, the customer under a whisper — keeps the relay as
// its sender (Session.markBypass, mixer.Session.SetBypass): its audio still
// feeds the mix the supervisor hears, but what it hears is the other
// party's packets, relayed untouched, with no jitter-buffer delay, and the
// mixer worker sends one frame per listened call per tick instead of
// three. Not while a playback, a cue (for as long as it plays), an
// intercept or transcoding needs the mix. A mode change that makes a leg
// hear someone else hands its stream to the mixer (priming as above); one
// that makes it hear the other party alone again hands it back (SetBypass
// waits out the tick, the relay re-bases). With the in-kernel relay a
// bypassed stream goes to the kernel like a relayed one, which copies the
// packets it forwards to a ring the engine reads for the mix, and drops
// the listening supervisor's audio, which nobody hears (kernelpath.go).
//
// mix → relay: the mixer session is closed (which waits out a tick in
// progress), then both streams are released to the relay, which re-bases
// them with its next packet. The audio still queued in the jitter buffers
// (about 40 ms) is skipped, not played late.
//
// The sink (mixSink, called on the mixer worker) stamps each frame with the
// mixer's own input identity — an SSRC of its own and a sequence number and
// timestamp advancing by one frame per tick — into a per-leg buffer that
// only the worker touches, maps it through the leg's outStream and sends it
// from the leg's socket: no allocation per frame. A cue (Session.Cue) is
// overlaid there too: the sink decodes the frame, adds the cue's
// pre-computed samples and re-encodes, for the few frames the cue lasts.
//
// Telephone-events (RFC 4733) from the caller or callee are relayed as they
// are while the relay owns the other leg's stream; while mixed they are
// inserted between the mixer's frames (outStream.event): each takes the next
// sequence number, the mixer's mapping shifts by one so no number is
// skipped or repeated, and all packets of one event share one output
// timestamp. Telephone-events from a supervisor leg are never forwarded:
// each event (identified by SSRC and timestamp, so the repeated end packets
// count once) is reported to the leg's onDigit. Any other payload type
// arriving while mixed (comfort noise, an unnegotiated codec) is dropped
// and counted (Drops.NotMixed).
//
// Promote puts the supervisor's leg in the callee's place: pair[1] is
// swapped, the old callee leaves the mixer and is closed, and from then on
// leg 1 of Offer, Answer, Snapshot and Cue is that leg, with its own
// ports, output stream and o= line. The leg stays in the mixer with its
// jitter buffer, only its role changes to the agent's (mixer SetParty),
// and the session stays on the mix path for the rest of the call: the
// customer's stream keeps its 20 ms pace with no gap, also while the
// supervisor's phone sends the key press that asked for the intercept
// instead of audio.
//
// # RTCP
//
// RTCP is relayed between the caller's and callee's RTCP sockets with the
// same latching. The sender SSRC of SR/RR and the sender's SDES chunk become
// the output leg's SSRC, an SR's RTP timestamp moves into the output
// stream's timestamp space, and report blocks about the stream earshot sends
// are turned back into reports about the stream the other phone actually
// sends. While the mixer feeds a stream only the SSRC rewriting is done:
// the SR timestamp and the report blocks are passed unchanged, because the
// mixer's timeline and sequence space mean nothing to the other phone (so
// RTCP keeps flowing and identifying the right SSRCs, but its statistics
// describe earshot's mixed streams only loosely; earshot does not generate
// reports of its own). RTCP from supervisor legs latches and is dropped.
// Malformed RTCP is dropped and counted; the parser never panics (it is
// fuzzed).
//
// # Media timeout
//
// Only the caller and callee legs count (after Promote, the promoted leg):
// a supervisor's phone alone does not keep a dead call up. The watcher checks all sessions about once a second. A session is armed
// once it has seen an offer and an answer; it times out when neither leg has
// delivered an accepted RTP or RTCP packet for Config.MediaTimeout since the
// later of arming and the last packet. onTimeout is then called once, from
// the watcher goroutine, and must not block. A call on hold (a=inactive on
// both sides) survives as long as RTCP flows; a call where only one side
// still sends is not timed out.
package rtpengine
