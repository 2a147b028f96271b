package b2bua

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeUASIO records what a uasInvite sends and holds its timers, which the
// test fires by hand: no clock, no server.
type fakeUASIO struct {
	sent    []int // status codes, in order
	resends int
	timers  []armed
}

type armed struct {
	d  time.Duration
	fn func()
}

func (f *fakeUASIO) respond(in *inbound, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	f.sent = append(f.sent, code)
	return sip.NewResponseFromRequest(in.req, code, reason, body)
}

func (f *fakeUASIO) resend(*inbound, *sip.Response) { f.resends++ }

func (f *fakeUASIO) after(d time.Duration, fn func()) *time.Timer {
	f.timers = append(f.timers, armed{d, fn})
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// fireLast runs the most recently armed timer.
func (f *fakeUASIO) fireLast() { f.timers[len(f.timers)-1].fn() }

func testInvite(cseq uint32, body string) *inbound {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "100", Host: "192.0.2.1"})
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.INVITE})
	if body != "" {
		req.SetBody([]byte(body))
	}
	return newInbound(req, nil)
}

func TestUASRetransmitsUntilGiveUp(t *testing.T) {
	io := &fakeUASIO{}
	u := newUASInvite(testInvite(7, "v=0"), io, "UDP")
	gaveUp := 0
	u.accept([]byte("v=0"), nil, func() { gaveUp++ })
	if u.state != uasAccepted || !slices.Equal(io.sent, []int{200}) || !u.answered() {
		t.Fatalf("after accept: state %v, sent %v", u.state, io.sent)
	}
	// RFC 3261 §13.3.1.4: after T1, 2·T1, 4·T1, then every T2, each
	// firing resends; 64·T1 after the 2xx it gives up.
	wants := []time.Duration{sip.T1, 2 * sip.T1, 4 * sip.T1, sip.T2, sip.T2, sip.T2, sip.T2, sip.T2, sip.T2, sip.T2}
	var elapsed time.Duration
	for i, want := range wants {
		if got := io.timers[len(io.timers)-1].d; got != want {
			t.Fatalf("retransmission %d armed after %v, want %v", i, got, want)
		}
		io.fireLast()
		elapsed += want
		if io.resends != i+1 || u.state != uasAccepted {
			t.Fatalf("retransmission %d at %v: %d resends, state %v", i, elapsed, io.resends, u.state)
		}
	}
	// The last wait ends at 64·T1, without a resend.
	last := io.timers[len(io.timers)-1].d
	if elapsed+last != 64*sip.T1 {
		t.Fatalf("gives up at %v, want 64·T1", elapsed+last)
	}
	resends := io.resends
	io.fireLast()
	if u.state != uasGaveUp || gaveUp != 1 || io.resends != resends {
		t.Fatalf("at 64·T1: state %v, gave up %d times, %d resends", u.state, gaveUp, io.resends)
	}
	if u.ack(7) {
		t.Fatal("an ACK after giving up was taken")
	}
}

func TestUASAckMatchedByCSeq(t *testing.T) {
	io := &fakeUASIO{}
	u := newUASInvite(testInvite(7, "v=0"), io, "UDP")
	if u.ack(7) {
		t.Fatal("an ACK before the 2xx was taken")
	}
	u.accept(nil, nil, func() { t.Fatal("gave up") })
	if u.ack(8) {
		t.Fatal("the ACK of another INVITE (CSeq 8) was taken")
	}
	if !u.ack(7) || u.state != uasConfirmed {
		t.Fatalf("ACK 7: state %v", u.state)
	}
	if u.ack(7) {
		t.Fatal("a retransmitted ACK was taken twice")
	}
	// The retransmission armed before the ACK lost the race: nothing sent.
	io.fireLast()
	if io.resends != 0 {
		t.Fatalf("%d resends after the ACK", io.resends)
	}
	u.end()
	if u.state != uasEnded {
		t.Fatalf("after end: %v", u.state)
	}
}

func TestUASReliableTransportSendsOnce(t *testing.T) {
	io := &fakeUASIO{}
	u := newUASInvite(testInvite(1, ""), io, "TCP")
	if !u.lateOffer {
		t.Fatal("an INVITE without SDP is a late offer")
	}
	u.accept([]byte("v=0"), nil, nil)
	if len(io.timers) != 0 {
		t.Fatalf("over TCP %d retransmissions armed", len(io.timers))
	}
	if !u.ack(1) {
		t.Fatal("ACK not taken")
	}
}

func TestUASRejectAndEnd(t *testing.T) {
	io := &fakeUASIO{}
	u := newUASInvite(testInvite(1, "v=0"), io, "UDP")
	if u.lateOffer {
		t.Fatal("an INVITE with SDP is no late offer")
	}
	u.reject(486, "Busy Here")
	u.reject(487, "Request Terminated") // a second final response is never sent
	u.accept(nil, nil, nil)             // nor a 2xx after a rejection
	if u.state != uasRejected || !slices.Equal(io.sent, []int{486}) || u.answered() {
		t.Fatalf("state %v, sent %v", u.state, io.sent)
	}
	u.end()
	if u.state != uasEnded {
		t.Fatalf("rejected then ended: %v", u.state)
	}

	// Ended while proceeding: nothing is sent by end itself.
	io = &fakeUASIO{}
	u = newUASInvite(testInvite(1, "v=0"), io, "UDP")
	u.end()
	u.reject(487, "Request Terminated")
	if u.state != uasEnded || len(io.sent) != 0 {
		t.Fatalf("state %v, sent %v", u.state, io.sent)
	}

	// Ended while waiting for the ACK: retransmission stops.
	io = &fakeUASIO{}
	u = newUASInvite(testInvite(1, "v=0"), io, "UDP")
	u.accept(nil, nil, func() { t.Fatal("gave up after end") })
	u.end()
	io.fireLast()
	if u.state != uasEnded || io.resends != 0 {
		t.Fatalf("state %v, %d resends", u.state, io.resends)
	}
}

// TestUASTableIsClosed: every transition leads to a state of the table,
// and the terminal states take no event.
func TestUASTableIsClosed(t *testing.T) {
	for s, row := range uasTransitions {
		for ev, next := range row {
			if next >= numUASStates {
				t.Errorf("%v --%v--> state %d outside the table", uasState(s), ev, next)
			}
		}
	}
	for _, s := range []uasState{uasGaveUp, uasEnded} {
		if len(uasTransitions[s]) != 0 {
			t.Errorf("terminal state %v takes events %v", s, uasTransitions[s])
		}
	}
}

func prackFor(rseq, cseq int) *inbound {
	req := sip.NewRequest(sip.PRACK, sip.Uri{Scheme: "sip", Host: "192.0.2.1"})
	req.AppendHeader(sip.NewHeader("RAck", strconv.Itoa(rseq)+" "+strconv.Itoa(cseq)+" INVITE"))
	return newInbound(req, nil)
}

func TestUASReliableProvisionals(t *testing.T) {
	io := &fakeUASIO{}
	inv := testInvite(3, "v=0")
	inv.req.AppendHeader(sip.NewHeader("Require", "100rel"))
	u := newUASInvite(inv, io, "UDP")
	u.provisional(183, "Session Progress", []byte("v=0"), nil, func() { t.Fatal("gave up") })
	u.provisional(180, "Ringing", nil, nil, nil) // queued behind the 183
	if !slices.Equal(io.sent, []int{183}) || !u.rel.early {
		t.Fatalf("sent %v, early %v", io.sent, u.rel.early)
	}
	// The 2xx waits for the PRACK of the 183 that carried SDP.
	u.acceptAfterPrack(nil, nil, func() {})
	if u.answered() || u.rel.next != nil {
		t.Fatalf("2xx sent before the PRACK (sent %v), or the queued 180 kept", io.sent)
	}
	u.prack(prackFor(2, 3)) // wrong RSeq
	u.prack(prackFor(1, 3))
	if !slices.Equal(io.sent, []int{183, 481, 200, 200}) || !u.answered() {
		t.Fatalf("sent %v", io.sent)
	}
}

func TestUASReliableProvisionalGivesUp(t *testing.T) {
	io := &fakeUASIO{}
	inv := testInvite(3, "v=0")
	inv.req.AppendHeader(sip.NewHeader("Require", "100rel"))
	u := newUASInvite(inv, io, "UDP")
	gaveUp := 0
	u.provisional(180, "Ringing", nil, nil, func() { gaveUp++ })
	var total time.Duration
	for gaveUp == 0 {
		total += io.timers[len(io.timers)-1].d
		io.fireLast()
	}
	if total != 64*sip.T1 || io.resends != 6 {
		t.Fatalf("gave up after %v and %d resends, want 64·T1", total, io.resends)
	}
}
