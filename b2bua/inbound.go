package b2bua

import (
	"sync"

	"github.com/emiago/sipgo/sip"
)

// inbound is a request received on a server transaction that the call's
// loop answers, possibly later (a re-INVITE waits for the other leg). The
// sipgo handler goroutine waits on done, because sipgo ends the transaction
// when the handler returns.
type inbound struct {
	req  *sip.Request
	tx   sip.ServerTransaction
	done chan struct{}
	once sync.Once
	last *sip.Response
}

func newInbound(req *sip.Request, tx sip.ServerTransaction) *inbound {
	return &inbound{req: req, tx: tx, done: make(chan struct{})}
}

// respond sends a response; a final one releases the waiting handler.
func (in *inbound) respond(s *Server, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	res := s.respond(in.tx, in.req, code, reason, body, hdrs...)
	in.last = res
	if code >= 200 {
		in.finish()
	}
	return res
}

// send sends a prebuilt response (used for 2xx retransmissions). A 2xx
// is retransmitted for 64·T1, and an INVITE's transaction ends at its
// 2xx (SetTransactionTimers) and sends nothing once it ended: the
// response goes to the transport, as RFC 6026 has the core send 2xx
// retransmissions anyway.
func (in *inbound) send(s *Server, res *sip.Response) {
	select {
	case <-in.tx.Done():
	default:
		if in.tx.Respond(res) == nil {
			return
		}
		// It was ending.
	}
	if err := s.sip.ua.TransportLayer().WriteMsg(res); err != nil {
		s.log.Debug("2xx retransmission failed", "err", err)
	}
}

func (in *inbound) finish() { in.once.Do(func() { close(in.done) }) }

// wait blocks the handler goroutine until the request was answered, the
// transaction died, or the call ended without answering (then 481).
func (in *inbound) wait(s *Server, c *Call) {
	select {
	case <-in.done:
	case <-in.tx.Done():
	case <-c.done:
		select {
		case <-in.done:
		default:
			in.respond(s, 481, "Call/Transaction Does Not Exist", nil)
		}
	}
}
