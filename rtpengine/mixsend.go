package rtpengine

import (
	"fmt"

	"github.com/earshot/earshot/mixer"
)

// The mixer's sends. A worker writes a frame to every listening leg of
// every call it mixes, each from the leg's own socket (the port the phone
// latched), every 20 ms. One sendto per frame costs more in system-call
// overhead than the kernel's work for the packet, and sendmmsg batches
// only one socket's messages; io_uring takes sends on any number of
// sockets in one system call. So each worker has a sendBatch: the sink
// queues the tick's frames in it, and the pool's AfterTick hook sends them
// all once the tick has mixed every call (sendbatch_linux.go). The
// mixer's RemoveLeg and Close wait for that hook as for the tick, so a
// stream handed back to the relay never has a mixed frame still queued
// behind the relay's first packet.

// batchedMixer returns cfg with an AfterTick that sends the worker's
// batch, before any AfterTick cfg had.
func (e *Engine) batchedMixer(cfg mixer.PoolConfig) mixer.PoolConfig {
	next := cfg.AfterTick
	cfg.AfterTick = func(w int) {
		if e.batches != nil {
			e.batches[w].flush()
		}
		if next != nil {
			next(w)
		}
	}
	return cfg
}

// openBatches gives each mixer worker its batch as cfg.IOUring asks,
// before the workers start. With IOUringAuto a failure is logged and kept
// in Stats; with IOUringOn it is returned.
func (e *Engine) openBatches() error {
	if e.cfg.IOUring == IOUringOff {
		return nil
	}
	var batches []*sendBatch
	for range e.mixer.Workers() {
		b, err := newSendBatch(e.log)
		if err != nil {
			for _, b := range batches {
				b.close()
			}
			if e.cfg.IOUring == IOUringOn {
				return fmt.Errorf("rtpengine: io_uring: %w", err)
			}
			e.batchWhy = err.Error()
			e.log.Warn("mixer sends: io_uring unavailable, sending each frame on its own", "err", err)
			return nil
		}
		batches = append(batches, b)
	}
	e.batches = batches
	e.log.Info("mixer sends: io_uring, one system call per worker tick", "workers", len(batches))
	return nil
}

// batchRelay has the receive loops batch the RTP they relay, like the
// mixer's workers, where io_uring works and the in-kernel relay is off
// (with it, a stream handed to the kernel must not have a packet still
// queued in a loop: it would leave after the kernel's next one).
func (e *Engine) batchRelay() {
	if e.batches == nil || e.kern != nil {
		return
	}
	if err := e.recv.batchSends(e.log); err != nil {
		e.log.Warn("relay sends: io_uring unavailable, sending each packet on its own", "err", err)
		return
	}
	e.relayBatched = true
}

// batchReceives has the receive loops read the packets of one wait in one
// system call where io_uring works (the mixer's batches opened), with the
// in-kernel relay on or off: a read batch leaves no packet behind in a
// loop, since every packet it reads runs the packet path before the next
// wait.
func (e *Engine) batchReceives() {
	if e.batches == nil {
		return
	}
	if err := e.recv.batchReads(); err != nil {
		e.log.Warn("media receive: io_uring cannot receive, reading each packet on its own", "err", err)
		return
	}
	e.readsBatched = true
}

// closeBatches releases the batches once the workers have stopped.
func (e *Engine) closeBatches() {
	for _, b := range e.batches {
		b.close()
	}
}

// batchFor is the batch of the worker that ticks ms, or nil.
func (e *Engine) batchFor(ms *mixer.Session) *sendBatch {
	if w := ms.Worker(); e.batches != nil && w >= 0 && w < len(e.batches) {
		return e.batches[w]
	}
	return nil
}
