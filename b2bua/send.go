package b2bua

import (
	"context"
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
	var again chan *sip.Response
	if req.Method == sip.INVITE {
		again = make(chan *sip.Response, 4)
		tx.OnRetransmission(func(res *sip.Response) {
			if res.IsSuccess() {
				select {
				case again <- res:
				default: // a burst: the next one is ACKed
				}
			}
		})
	}
	go func() {
		for {
			select {
			case res := <-tx.Responses():
				c.post(func() { onRes(res) })
			case res := <-again:
				c.post(func() { c.reACK(req, res) })
			case <-tx.Done():
				err := tx.Err()
				c.post(func() { onDone(err) })
				return
			case <-c.done:
				// The call is over, its transaction may not be: a
				// CANCELed INVITE still gets its 487, which the
				// transaction ACKs, again for each retransmission
				// (RFC 3261 §17.1.1.2). Terminating it now left the
				// phone retransmitting its 487 for seconds.
				// The loop has stopped (done is closed after its last
				// event), so the ACKs it kept can be read.
				c.s.drainTx(tx, req, again, &c.acks)
				return
			}
		}
	}()
	return tx, nil
}

// drainTx lets a client transaction whose call is gone run to its end on
// a goroutine that holds nothing of the call: responses are read and
// dropped (the transaction waits for a reader), the transaction's own
// timers end it, Close or 64·T1 at the latest. A 2xx to an INVITE is not
// dropped: the one the call's ACK went to gets that ACK again (it was
// lost); one the call never saw (the phone answered as the caller gave
// up) is ACKed and released with a BYE, or the phone would think itself
// in the call until its own 64·T1 ran out.
func (s *Server) drainTx(tx sip.ClientTransaction, invite *sip.Request, again <-chan *sip.Response, acked *ackLog) {
	started := s.bg.goFn(func(stop context.Context) {
		limit := time.NewTimer(64 * sip.T1)
		defer limit.Stop()
		var mine ackLog // the ACKs this goroutine sent
		for {
			select {
			case res := <-tx.Responses():
				if invite.Method == sip.INVITE && res.IsSuccess() {
					s.ackAfterEnd(invite, res, acked, &mine)
				}
			case res := <-again:
				s.ackAfterEnd(invite, res, acked, &mine)
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
