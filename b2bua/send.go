package b2bua

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// requestTimeout bounds a non-INVITE client transaction earshot starts
// (64*T1 is what the transaction layer would wait anyway).
const requestTimeout = 32 * time.Second

// sendAndForget sends a request in a transaction whose responses nobody
// waits for (BYE, PRACK, CANCEL), draining them in the background on a
// goroutine that Close stops and waits for.
func (s *Server) sendAndForget(req *sip.Request) {
	s.stats.sent(string(req.Method))
	s.sip.bindLocal(req)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	tx, err := s.sip.cli.TransactionRequest(ctx, req)
	if err != nil {
		cancel()
		s.log.Debug("send failed", "method", req.Method, "err", err)
		return
	}
	started := s.bg.goFn(func(stop context.Context) {
		defer cancel()
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.StatusCode >= 200 {
					return
				}
			case <-tx.Done():
				return
			case <-ctx.Done():
				return
			case <-stop.Done():
				return
			}
		}
	})
	if !started {
		cancel()
		tx.Terminate()
	}
}

// sendACK writes an ACK for a 2xx directly to the transport (it is not a
// transaction, RFC 3261 §17.1.1.3).
func (s *Server) sendACK(req *sip.Request) {
	s.stats.sent("ACK")
	s.sip.bindLocal(req)
	if err := s.sip.cli.WriteRequest(req); err != nil {
		s.log.Debug("ack failed", "err", err)
	}
}

// startTx sends a request whose responses the call's loop handles: each
// response and the transaction's end are posted to the call.
func (c *Call) startTx(req *sip.Request, onRes func(*sip.Response), onDone func(error)) (sip.ClientTransaction, error) {
	c.s.stats.sent(string(req.Method))
	c.s.sip.bindLocal(req)
	tx, err := c.s.sip.cli.TransactionRequest(context.Background(), req)
	if err != nil {
		return nil, err
	}
	// A 2xx to an INVITE that comes again (our ACK was lost, or another
	// fork answered) reaches only this hook, after the first 2xx was read
	// from Responses below; the loop below posts it after that one
	// (reack.go).
	var again *againHook
	if req.Method == sip.INVITE {
		// The hook lives for the linger after the 2xx and after the
		// call (keepAgain): it must not hold the call.
		again = &againHook{ch: make(chan *sip.Response, 4)}
		s := c.s
		tx.OnRetransmission(func(res *sip.Response) { again.receive(s, res) })
	}
	go func() {
		final, accepted := false, false
		// The 2xx read last and whether the call's loop ran it: one
		// read as the call ends can be posted and never run (the loop
		// stops after the event that ended the call), and the phone's
		// dialog would then wait for an ACK until it retransmits.
		var ok *sip.Response
		var okRan atomic.Bool
		responses, txDone := tx.Responses(), tx.Done()
		var lingerEnd <-chan time.Time
		var kept string // the hook's key in againHooks, once kept
		for {
			select {
			case res := <-responses:
				final = final || res.StatusCode >= 200
				if again != nil && res.IsSuccess() {
					accepted = true
					ok = res
					okRan.Store(false)
					c.post(func() { okRan.Store(true); onRes(res) })
					continue
				}
				c.post(func() { onRes(res) })
			case res := <-again.recv():
				c.post(func() { c.reACK(req, res) })
			case <-txDone:
				err := tx.Err()
				c.post(func() { onDone(err) })
				if !accepted {
					return
				}
				// An INVITE's client transaction ends at its 2xx
				// (SetTransactionTimers). A 2xx that comes again in
				// the linger after it reaches the hook through the
				// server's table (reackStray), and this goroutine
				// from the hook while the call lives.
				kept = c.s.keepAgain(kept, req, again)
				responses, txDone = nil, nil
				t := time.NewTimer(c.s.againHooks.linger)
				defer t.Stop()
				lingerEnd = t.C
			case <-lingerEnd:
				return
			case <-c.done:
				// The call is over, its transaction may not be. The
				// loop has stopped (done is closed after its last
				// event), so the ACKs it kept can be read: the hook
				// answers the 2xx that come again from now on.
				if ok != nil && okRan.Load() {
					ok = nil // the call has handled it
				}
				again.end(c.s, req, c.acks, ok)
				if again != nil && (accepted || !final) {
					// A 2xx may come again, or still come
					// (drainTx): the hook stays for the linger.
					// An INVITE refused 3xx–6xx gets none.
					c.s.keepAgain(kept, req, again)
				}
				if !final {
					// A CANCELed INVITE still gets its 487, which
					// the transaction ACKs, again for each
					// retransmission (RFC 3261 §17.1.1.2):
					// terminating it now left the phone
					// retransmitting its 487 for seconds.
					c.s.drainTx(tx, req, again)
				}
				// After a final response the transaction passes
				// nothing more up (a 2xx again goes to the hook, a
				// final again is absorbed) and ends by its own timers:
				// a goroutine per call waiting 64·T1 for that held
				// tens of thousands of goroutines, and every call's
				// memory, at a few thousand calls a second.
				return
			}
		}
	}()
	return tx, nil
}

// againHook takes the 2xx an INVITE's client transaction receives again
// (sipgo hands those only to its retransmission hook): to the call's
// loop while the call lives (startTx reads ch), and once it has ended
// straight to ackAfterEnd, on the goroutine that received it. A nil
// hook (not an INVITE) takes nothing.
type againHook struct {
	ch chan *sip.Response // to the call's loop, until end

	mu    sync.Mutex // guards the fields below, and ch against end
	ended bool
	base  *dialog   // what a 2xx is answered from once ended (forkBase); nil before, or without one
	acked []sentACK // the ACKs the call sent, kept as it ended
	mine  ackLog    // the ACKs sent since
}

// recv is the channel startTx reads; nil (never ready) for a nil hook.
func (h *againHook) recv() <-chan *sip.Response {
	if h == nil {
		return nil
	}
	return h.ch
}

func (h *againHook) receive(s *Server, res *sip.Response) {
	if !res.IsSuccess() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		s.ackAfterEnd(h, res)
		return
	}
	select {
	case h.ch <- res:
	default: // a burst: the next one is ACKed
	}
}

// end hands the hook over from the ended call: the call's ACKs are
// copied (the hook holds nothing of the call), and a 2xx the call never
// handled (missed, when its loop had stopped first) or that still waits
// for the call's loop is answered now.
func (h *againHook) end(s *Server, invite *sip.Request, acked ackLog, missed *sip.Response) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended, h.acked = true, keepACKs(&acked)
	if d, ok := forkBase(invite); ok {
		h.base = &d
	}
	if missed != nil {
		s.ackAfterEnd(h, missed)
	}
	for {
		select {
		case res := <-h.ch:
			s.ackAfterEnd(h, res)
		default:
			return
		}
	}
}

// drainTx reads the responses of a client transaction whose call ended
// before its final response, on a goroutine that holds nothing of the
// call, until that final response (the transaction waits for a reader
// of each), its end, Close, or 64·T1 at the latest. A 2xx to an INVITE
// is not dropped: one the call never saw (the phone answered as the
// caller gave up) is ACKed and released with a BYE, or the phone would
// think itself in the call until its own 64·T1 ran out; its
// retransmissions get that ACK again (the hook, again).
func (s *Server) drainTx(tx sip.ClientTransaction, invite *sip.Request, again *againHook) {
	started := s.bg.goFn(func(stop context.Context) {
		limit := time.NewTimer(64 * sip.T1)
		defer limit.Stop()
		for {
			select {
			case res := <-tx.Responses():
				if again != nil && res.IsSuccess() {
					again.receive(s, res)
				}
				if res.StatusCode >= 200 {
					return // nothing more is passed up (startTx)
				}
			case <-tx.Done():
				return
			case <-limit.C:
				tx.Terminate()
				return
			case <-stop.Done():
				tx.Terminate()
				return
			}
		}
	})
	if !started {
		tx.Terminate()
	}
}
