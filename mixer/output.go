package mixer

import "time"

// A pooled worker only mixes; a second goroutine per worker, its output,
// hands the frames to the Sinks. On real sockets writing a frame (a UDP
// send) costs several times its mixing: profiled with 400 supervised calls
// on loopback, the sends took about 80 % of a worker's tick. Split in two,
// the worker's tick is only the mix, and the sends run on another
// goroutine — on another core when one is free — so the clock that paces
// the mix is not held up by the system calls of the tick before.
//
// The two meet through one batch that travels between them on two
// channels, so a tick costs two channel operations on each side and
// nothing allocates:
//
//	worker: b := <-free; mix every session into its legs' buffers,
//	        appending it to b; full <- b
//	output: b := <-full; write every session's frames; free <- b
//
// The worker mixes tick n+1 only once the output has written tick n, so it
// never overwrites a frame not yet sent; an output running more than a
// tick behind makes the worker's ticks start late, which the lateness
// histogram shows (a worker waits on a channel, never on a lock). A
// session's tickMu still tells control operations when its frames are
// out: the worker locks it before mixing the session and the output
// unlocks it once the session's frames are written, so RemoveLeg and
// Close, which wait for the lock, return only when no frame of theirs is
// being written.

// outBatch is one tick of a shard on its way from the worker to the output.
type outBatch struct {
	deadline time.Time  // the tick's, for the output lateness
	sessions []*Session // mixed, each with tickMu held and out set
}

// output is the pair of channels between a shard's worker and its output
// goroutine.
type output struct {
	free chan *outBatch // the batch, when the worker may fill it
	full chan *outBatch // the batch, mixed; closed by the worker
	done chan struct{}  // closed when the output goroutine returns
}

// startOutput starts sh's output goroutine. The worker stops it by
// closing o.full and waits on o.done; every batch sent before is written.
func (sh *shard) startOutput() *output {
	o := &output{free: make(chan *outBatch, 1), full: make(chan *outBatch, 1), done: make(chan struct{})}
	o.free <- &sh.batch
	go func() {
		defer close(o.done)
		for b := range o.full {
			sh.write(b)
			sh.counters.output.observe(time.Since(b.deadline))
			o.free <- b
		}
	}()
	return o
}

// stop ends the output goroutine after it has written every batch sent.
func (o *output) stop() {
	close(o.full)
	<-o.done
}

// write hands every frame of b to the Sinks and releases each session for
// its next tick.
func (sh *shard) write(b *outBatch) {
	for i, s := range b.sessions {
		s.write(s.out, &sh.counters)
		s.out = nil
		s.tickMu.Unlock()
		b.sessions[i] = nil // keep no removed session alive
	}
	b.sessions = b.sessions[:0]
}
