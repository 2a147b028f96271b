package b2bua

import (
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// DefaultTransactionLinger is how long a completed SIP transaction stays
// by default: Kamailio's (tm's wt_timer).
const DefaultTransactionLinger = 5 * time.Second

// SetTransactionTimers sets how long a completed server transaction
// absorbs its request's retransmissions over UDP (linger), and sipgo's
// process-wide transaction timers to match.
//
// RFC 3261 and RFC 6026 keep a completed transaction 64·T1 (32 s) over
// UDP: sipgo's timers D, J, L and M. sipgo keeps each one's parsed
// request and response, timers and channels; at a few thousand calls a
// second that was hundreds of megabytes, and earshot's highest call rate
// fell by a fifth for it (docs/performance.md, "How long a finished
// transaction stays"). earshot's server transactions now end in sipgo at
// their final response (timers J and L zero, as sipgo does over TCP) and
// keep only their key and their answer's bytes for the linger
// (answered.go); an INVITE client transaction's 2xx ends it too (timer M:
// what answers that 2xx when it comes again is kept instead, keepAgain in
// reack.go). Timer D, the client transaction's wait for a retransmitted
// 3xx–6xx whose ACK was lost, stays the linger: it resends that ACK.
//
// What the RFC keeps the transactions for is done without them past the
// linger: the 2xx earshot retransmits until its ACK goes to the transport
// once its INVITE transaction is gone (inbound.send). A request
// retransmitted later than the linger is taken as a new one: a BYE gets
// 481, the INVITE of a call in progress 482.
//
// sipgo's INVITE server transaction sends a 100 Trying of its own when
// the core has not answered within 200 ms (RFC 3261 §17.2.1), from a
// timer of its own. earshot sends its 100 as a call's first act, from the
// call's goroutine; on a machine loaded enough for the timer to fire
// first (behind a garbage collection's mark, at thousands of calls a
// second) the caller got two different 100s, the second with earshot's
// To tag, and sipp aborts a call on that (and sipgo's was built from the
// INVITE while earshot added its tag to it: a data race). The timer is
// set out of reach: earshot's own 100 is the only one.
//
// The timers are sipgo's package variables, read as its transactions
// run: set them once, before any Server is made.
func SetTransactionTimers(linger time.Duration) {
	sip.Timer_D, sip.Timer_J, sip.Timer_L, sip.Timer_M = linger, 0, 0, 0
	sip.Timer_1xx = noOwnTrying
	transactionLinger.Store(int64(linger))
}

// transactionLinger is the linger SetTransactionTimers set, for the
// Servers made after it.
var transactionLinger atomic.Int64

func init() { transactionLinger.Store(int64(DefaultTransactionLinger)) }

// noOwnTrying is sipgo's 100 Trying timer made unreachable: a server
// transaction is answered and done long before.
const noOwnTrying = 24 * time.Hour

// ackStray2xx sends the ACK again for a 2xx to an INVITE that came after
// the INVITE's client transaction ended, when the call it belongs to
// still runs and sent an ACK for it; it reports whether the response was
// such a 2xx of a live call.
func (s *Server) ackStray2xx(res *sip.Response) bool {
	cseq, cid := res.CSeq(), res.CallID()
	if !res.IsSuccess() || cseq == nil || cseq.MethodName != sip.INVITE || cid == nil || res.From() == nil {
		return false
	}
	from, _ := res.From().Params.Get("tag")
	l := s.dialogs.find(cid.Value() + "|" + from)
	if l == nil {
		return false
	}
	c := l.call
	return c.post(func() {
		if ack, _ := c.acks.find(cid.Value(), cseq.SeqNo, tagOf(res.To())); ack != nil {
			c.s.sendACK(ack)
			return
		}
		s.stats.drop(DropStrayResponse)
	})
}
