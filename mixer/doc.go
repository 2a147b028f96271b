// Package mixer is earshot's media core for supervised calls: per-leg jitter
// buffers, G.711 (µ-law and A-law) decoding and encoding, loss concealment,
// the mix of N legs by the hear-matrix, and the clocked workers that run it
// all every 20 ms. It is pure media: it knows no sockets, no SIP and no other
// earshot package. The RTP engine feeds it received packets and sends what
// it produces.
//
// # Who hears whom
//
// Each leg is a Party: a Role (customer, agent, supervisor) and, for a
// supervisor, a Mode (listen, whisper, barge, intercept). Hears decides, for
// two distinct legs, whether one hears the other:
//
//	mode       customer hears      agent hears             supervisor hears
//	listen     agent               customer                customer + agent
//	whisper    agent               customer + supervisor   customer + agent
//	barge      agent + supervisor  customer + supervisor   customer + agent
//	intercept  supervisor          nobody (agent dropped)  customer
//
// With several supervisors the rule is: the customer hears the agent and
// every barging supervisor; the agent hears the customer and every barging
// or whispering supervisor; a supervisor hears the customer, the agent and
// every other barging supervisor — never a listener or a whisperer. When any
// supervisor intercepts, the interceptor takes the agent's place in all of
// the above and the agent hears and is heard by nobody. No leg ever hears
// itself. hear.go has the full reasoning.
//
// # Using it from the RTP engine
//
// One Pool per engine (NewPool, Start, Close). When a call needs mixing
// (a supervisor attaches, or the legs' codecs differ), the engine creates a
// Session with Pool.NewSession, giving it a Sink, and adds a leg per party
// with Session.AddLeg (id, role, mode, codec). Then:
//
//   - each leg's socket reader calls Leg.Push (or Session.Push by id) for
//     every audio packet it receives: the RTP payload, sequence number,
//     timestamp, SSRC, marker bit and arrival time. Push copies the payload
//     into a preallocated slot and returns; it never blocks on the mixer and
//     never allocates. Packets of other payload types (telephone-event,
//     comfort noise) are the engine's business and must not be pushed.
//   - every 20 ms the session's worker calls Sink.WriteFrame once for every
//     leg with that leg's next 20 ms of audio: FrameSamples bytes in the
//     leg's codec, the mix of what it hears. A leg that hears nobody gets
//     encoded silence, so its outgoing stream stays continuous. The payload
//     is valid only during the call; the engine stamps it with the leg's
//     continuing SSRC, sequence number and timestamp and sends it.
//   - mode switches (Session.SetMode), supervisors joining or leaving
//     (AddLeg, RemoveLeg) and the end of mixing (Session.Close) may happen
//     at any time from any goroutine and take effect at the next tick; a
//     mode switch keeps the leg's buffers, so it is seamless.
//
// Packets are expected to carry 20 ms of audio (ptime 20, FrameSamples
// bytes): shorter payloads are padded with silence and longer ones cut.
//
// # Concurrency and ownership
//
// A Pool owns a fixed set of worker goroutines (PoolConfig.Workers, default
// one per CPU), started by Start and stopped and waited for by Close. Each
// worker owns a shard of sessions and ticks them all at start + n×20 ms on
// one absolute clock (worker i of N offset by i/N of a frame, so that the
// workers do not all wake at once): a late tick is recorded in a lateness histogram and
// followed at once by the next, so lateness never turns into drift; a
// worker more than PoolConfig.MaxCatchUp behind skips the missed ticks
// instead of bursting. A worker sleeps the last 2 ms before a tick with
// clock_nanosleep on Linux: a Go timer alone wakes up to a millisecond late
// (clock_linux.go). A worker whose shard is empty does not tick: it waits
// for a session and then resumes on its own grid (Pool.idle).
// There is no goroutine or timer per call.
//
// Everything a tick touches — jitter buffers, decoded frames, mix and encode
// buffers — belongs to that one worker, so the media path allocates nothing
// and control operations never hold the worker up for more than a lock–unlock
// pair. Four small hand-over points connect it to other goroutines:
//
//   - sessions: the list of a worker's sessions is its own. NewSession and
//     Close push the session's entry or exit on a stack without a lock;
//     the worker takes the stack whole before each tick, so a session
//     starting or ending costs O(1) however many the worker ticks.
//   - packets: each leg has an inbox ring with an atomic head and tail; the
//     reader fills a slot and publishes it, the worker drains the ring into
//     the jitter buffer at the start of each tick. A full inbox drops the
//     packet and counts it. A per-leg mutex orders concurrent producers (there
//     should be one); the worker never takes it.
//   - control: a session's legs, their parties and the hear bitmasks live
//     in an immutable table. Control methods serialise on the session's own
//     mutex, build a new table and publish it with an atomic store; the
//     worker loads the pointer once per tick. RemoveLeg and Close then
//     wait until no frame for what they removed is being written: the
//     worker steps a counter in and out of each tick (tickgate.go), and
//     they wait out the tick in progress without the worker waiting for
//     them.
//   - metrics: each shard keeps atomic counters and histograms that its
//     worker writes, and gauges of its sessions and legs that control
//     keeps; Pool.Stats sums them into a plain snapshot at scrape time.
//     The package registers nothing and keeps no global state.
//
// The Sink runs on the worker goroutine. It must not block, and must not call
// RemoveLeg or Close (they wait for the tick that is calling the Sink). A Sink
// may queue its frames and send them from PoolConfig.AfterTick, which the
// worker calls after each tick of its shard (the RTP engine sends a tick's
// frames in one io_uring system call there); RemoveLeg and Close wait for it
// too, so nothing of a removed leg is queued once they return.
//
// A standalone Session (NewSession) is ticked by its owner with Tick, for
// tests or a caller with its own clock; JitterBuffer can also be used alone.
// Both take the time as a parameter and read no clock, so a test replays any
// timing exactly.
package mixer
