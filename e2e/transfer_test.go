package e2e

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
	"github.com/emiago/sipgo/sip"
)

// refer sends a REFER inside the dialog of the call s answered, from
// another socket on the answering phone's address (what the peer check
// looks at), and returns the status of the answer. Its CSeq is 1, so the
// phone's own later requests in the dialog stay in order.
func refer(t *testing.T, e *env, ip string, s *phone.Session, to string) int {
	t.Helper()
	return referTo(t, e, ip, s, 1, "<sip:"+to+"@127.0.0.1>")
}

// referTo sends REFER with CSeq cseq and Refer-To referTo on the dialog
// of s.
func referTo(t *testing.T, e *env, ip string, s *phone.Session, cseq int, referTo string) int {
	t.Helper()
	callID, fromTag, toTag := s.DialogIDs()
	conn, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := "REFER " + s.RemoteContact() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-refer\r\n" +
		"From: <sip:1001@" + ip + ">;tag=" + fromTag + "\r\nTo: <sip:earshot@127.0.0.1>;tag=" + toTag + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " REFER\r\nContact: <sip:1001@" + local + ">\r\n" +
		"Refer-To: " + referTo + "\r\nReferred-By: <sip:1001@127.0.0.1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	srv, _ := net.ResolveUDPAddr("udp", e.udp())
	if _, err := conn.WriteTo([]byte(msg), srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer to REFER: %v", err)
		}
		if code := status(string(buf[:n])); code >= 200 {
			return code
		}
	}
}

// customerToAgent has customer call the support line, which agent
// answers, and waits until the customer hears the agent.
func customerToAgent(t *testing.T, customer, agent *phone.Phone) (cs, as *phone.Session) {
	t.Helper()
	got := answerNext(t, agent)
	cs, err := customer.Call(ctx(t), "100")
	if err != nil {
		t.Fatal(err)
	}
	if as = <-got; as == nil {
		t.Fatal("agent did not answer")
	}
	expectHears(t, "customer", cs, toneAgent)
	return cs, as
}

// TestBlindTransfer: the agent transfers the customer to extension 1002
// and hangs up at once, as baresip does after the 202; the customer stays
// on the call, 1002 rings and answers, and the customer and 1002 hear
// each other on the customer's one continuous stream.
func TestBlindTransfer(t *testing.T) {
	for _, hangsUp := range []bool{true, false} {
		t.Run("transferor hangs up="+strconv.FormatBool(hangsUp), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Tenants[0].Groups[0].Agents = []string{"1001"} // 1002 is only the transfer target
			e := start(t, cfg)
			agent := e.agent("1001", "127.0.0.13", toneAgent)
			colleague := e.agent("1002", "127.0.0.14", toneOther)
			cs, as := customerToAgent(t, e.customer(), agent)

			rung := make(chan *phone.Session, 1)
			ringing := make(chan struct{})
			go func() {
				defer close(rung)
				in, err := colleague.Next(ctx(t))
				if err != nil {
					return
				}
				_ = in.Ring()
				close(ringing)
				// Ring long enough for the transferor's BYE to be handled.
				time.Sleep(300 * time.Millisecond)
				if s, err := in.Answer(); err == nil {
					rung <- s
				}
			}()
			if code := refer(t, e, "127.0.0.13", as, "nobody"); code != 404 {
				t.Fatalf("REFER to nobody: %d, want 404", code)
			}
			if code := refer(t, e, "127.0.0.13", as, "1002"); code != 202 {
				t.Fatalf("REFER: %d, want 202", code)
			}
			<-ringing
			if hangsUp {
				if err := as.Hangup(ctx(t)); err != nil {
					t.Fatalf("transferor's BYE: %v", err)
				}
			}
			ss := <-rung
			if ss == nil {
				t.Fatal("the transfer target did not get the call")
			}
			if !hangsUp {
				waitEnded(t, "transferor (BYE from earshot after the hand-over)", as)
			}
			cs.RTP.ResetContinuity()
			cs.RTP.Clear()
			expectHears(t, "customer", cs, toneOther)
			expectHears(t, "colleague", ss, toneCustomer)
			expectSilent(t, "customer (the transferor)", cs, toneAgent)
			if ssrcs, gaps := cs.RTP.Continuity(); len(ssrcs) != 1 || gaps != 0 {
				t.Fatalf("customer's stream after the transfer: SSRCs %x, %d gaps", ssrcs, gaps)
			}
			calls := e.app.SIP.Calls()
			if len(calls) != 1 || strings.Join(calls[0].Agents, ",") != "1002" {
				t.Fatalf("live calls %+v, want the customer with 1002", calls)
			}
			if err := cs.Hangup(ctx(t)); err != nil {
				t.Fatal(err)
			}
			waitEnded(t, "colleague", ss)
		})
	}
}

// Blind transfers to a business number (the group's free agent takes the
// customer), to an external number (the carrier's phone answers through
// the trunk) and through the API (a supervisor moves the call to another
// agent; audited). Each time the customer hears the new party on one
// continuous stream and the old agent is released.
func TestTransferToGroupExternalAndAPI(t *testing.T) {
	const toneCarrier = 2300.0
	cfg := testConfig(t)
	carrier := carrierPhone(t, cfg, toneCarrier)
	tn := &cfg.Tenants[0]
	tn.Groups[0].Agents = []string{"1001"}
	tn.Groups = append(tn.Groups, config.Group{Name: "sales", Numbers: []config.Number{{Number: "200"}}, Agents: []string{"1002"}})
	cfg.SetDefaults()
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	sales := e.agent("1002", "127.0.0.14", toneOther)

	connect := func() (*phone.Session, *phone.Session) { return customerToAgent(t, e.customer(), agent) }
	handedTo := func(cs, as, ss *phone.Session, tone float64, who string) {
		t.Helper()
		if ss == nil {
			t.Fatalf("%s did not get the call", who)
		}
		waitEnded(t, "the transferring agent", as)
		cs.RTP.ResetContinuity()
		cs.RTP.Clear()
		expectHears(t, "customer hears "+who, cs, tone)
		expectHears(t, who+" hears the customer", ss, toneCustomer)
		continuity(t, party{"customer", cs, toneCustomer})
		_ = cs.Hangup(ctx(t))
		waitEnded(t, who, ss)
		waitActive(t, e, 0)
	}

	// To the sales group's number: its free agent rings.
	cs, as := connect()
	got := answerNext(t, sales)
	if code := refer(t, e, "127.0.0.13", as, "200"); code != 202 {
		t.Fatalf("REFER to a group: %d", code)
	}
	handedTo(cs, as, <-got, toneOther, "the sales agent")

	// To an external number through the trunk.
	cs, as = connect()
	got = answerNext(t, carrier)
	if code := refer(t, e, "127.0.0.13", as, "0049301234567"); code != 202 {
		t.Fatalf("REFER to an external number: %d", code)
	}
	handedTo(cs, as, <-got, toneCarrier, "the external party")

	// Through the API, by a supervisor.
	cs, as = connect()
	calls := e.app.SIP.Calls()
	got = answerNext(t, sales)
	if code, body := api(t, e, "demo-2001", "POST", "/calls/"+calls[0].ID+"/transfer", map[string]any{"to": "nobody"}); code != 400 {
		t.Fatalf("transfer to nobody: %d %v", code, body)
	}
	if code, body := api(t, e, "demo-2001", "POST", "/calls/"+calls[0].ID+"/transfer", map[string]any{"to": "1002"}); code != 202 {
		t.Fatalf("API transfer: %d %v", code, body)
	}
	handedTo(cs, as, <-got, toneOther, "1002")
	_, audit := api(t, e, "demo-2001", "GET", "/audit?action=call.transfer", nil)
	if recs, _ := audit["records"].([]any); len(recs) != 2 {
		t.Fatalf("call.transfer audit: %v", audit)
	}
}

// Supervision follows the customer across a transfer: a supervisor
// listening to the agent's call stays attached and hears the new agent.
// With tenants[].transfer_detaches_supervisors the transfer ends the
// supervision instead: the supervisor's phone gets BYE, the supervision
// ends with reason "transferred", and the customer goes on with the new
// agent.
func TestSupervisionFollowsTransfer(t *testing.T) {
	const toneSup = 2100.0
	for _, detach := range []bool{false, true} {
		t.Run("detaches="+strconv.FormatBool(detach), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Tenants[0].Groups[0].Agents = []string{"1001"}
			cfg.Tenants[0].TransferDetachesSupervisors = detach
			e := start(t, cfg)
			agent := e.agent("1001", "127.0.0.13", toneAgent)
			colleague := e.agent("1002", "127.0.0.14", toneOther)
			cs, as := customerToAgent(t, e.customer(), agent)
			sup := e.agent("2001", "127.0.0.15", toneSup)
			ss, code := dial(t, sup, "*11001")
			if code != 200 {
				t.Fatalf("*11001: %d", code)
			}
			expectHears(t, "supervisor hears the agent", ss, toneAgent)
			rung := answerNext(t, colleague)
			if code := refer(t, e, "127.0.0.13", as, "1002"); code != 202 {
				t.Fatalf("REFER: %d", code)
			}
			if cl := <-rung; cl == nil {
				t.Fatal("the colleague did not get the call")
			}
			waitEnded(t, "the transferring agent", as)
			if detach {
				waitEnded(t, "the supervisor (detached by the transfer)", ss)
				expectHears(t, "customer hears the new agent", cs, toneOther)
				if sups := e.app.SIP.Supervisions(); len(sups) != 0 {
					t.Fatalf("supervisions left after the transfer: %+v", sups)
				}
				waitFor(t, "a supervision.ended audit record with detail transferred", func() bool {
					_, audit := api(t, e, "demo-2001", "GET", "/audit?action=supervision.ended", nil)
					recs, _ := audit["records"].([]any)
					return len(recs) == 1 && recs[0].(map[string]any)["detail"] == "transferred"
				})
			} else {
				ss.RTP.Clear()
				expectHears(t, "supervisor hears the new agent", ss, toneOther)
				expectHears(t, "supervisor still hears the customer", ss, toneCustomer)
				expectSilent(t, "supervisor no longer hears the old agent", ss, toneAgent)
				expectSilent(t, "the customer does not hear the listening supervisor", cs, toneSup)
			}
			_ = cs.Hangup(ctx(t))
			waitActive(t, e, 0)
		})
	}
}

// replacesURI is the Refer-To of an attended transfer to ext replacing
// the consultation call s (RFC 3891, escaped as a URI header).
func replacesURI(ext string, s *phone.Session) string {
	callID, fromTag, toTag := s.DialogIDs()
	return "<sip:" + ext + "@127.0.0.1?Replaces=" + url.QueryEscape(callID+";to-tag="+toTag+";from-tag="+fromTag) + ">"
}

// TestAttendedTransfer: the agent (with the customer on hold, or not)
// consults a colleague through earshot, then transfers the customer to
// them with REFER/Replaces. The customer hears the colleague on its one
// continuous stream, the colleague hears the customer, the agent's two
// dialogs get BYE, a supervisor listening hears the colleague, and the
// customer sees only the hold and earshot's resume.
func TestAttendedTransfer(t *testing.T) {
	for _, held := range []bool{false, true} {
		t.Run("customer held="+strconv.FormatBool(held), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Tenants[0].HoldMusic = true
			cfg.Tenants[0].Groups[0].Agents = []string{"1001"}
			e := start(t, cfg)
			agent := e.agent("1001", "127.0.0.13", toneAgent)
			colleague := e.agent("1002", "127.0.0.14", toneOther)
			cust := e.customer()
			cs, as := customerToAgent(t, cust, agent)
			const toneSup = 2100.0
			sup := e.agent("2001", "127.0.0.15", toneSup)
			sups, code := dial(t, sup, "*11001")
			if code != 200 {
				t.Fatalf("*11001: %d", code)
			}
			expectHears(t, "supervisor hears the agent", sups, toneAgent)
			if held {
				if code, err := as.Reinvite(ctx(t), "sendonly"); err != nil || code != 200 {
					t.Fatalf("hold: %d %v", code, err)
				}
				hearsMusic(t, "customer on hold", cs)
			}
			// The consultation call.
			rung := answerNext(t, colleague)
			con, err := agent.Call(ctx(t), "1002")
			if err != nil {
				t.Fatal(err)
			}
			ss := <-rung
			if ss == nil {
				t.Fatal("colleague did not answer the consultation")
			}
			expectHears(t, "agent consulting", con, toneOther)

			bogus := "<sip:1002@127.0.0.1?Replaces=" + url.QueryEscape("nope;to-tag=a;from-tag=b") + ">"
			if code := referTo(t, e, "127.0.0.13", as, 98, bogus); code != 481 {
				t.Fatalf("REFER replacing an unknown dialog: %d, want 481", code)
			}
			// A dialog that is not the agent's own consultation: refused.
			if code := referTo(t, e, "127.0.0.13", as, 99, replacesURI("1002", sups)); code != 403 {
				t.Fatalf("REFER replacing the supervisor's dialog: %d, want 403", code)
			}
			cs.RTP.ResetContinuity()
			if code := referTo(t, e, "127.0.0.13", as, 101, replacesURI("1002", con)); code != 202 {
				t.Fatalf("REFER with Replaces: %d, want 202", code)
			}
			waitEnded(t, "the consultation call (BYE from earshot)", con)
			waitEnded(t, "the agent's call with the customer", as)
			cs.RTP.Clear()
			expectHears(t, "customer", cs, toneOther)
			expectHears(t, "colleague", ss, toneCustomer)
			expectSilent(t, "customer (the transferor)", cs, toneAgent)
			strictContinuity(t, "customer", cs)
			sups.RTP.Clear()
			expectHears(t, "supervisor hears the colleague", sups, toneOther)
			expectHears(t, "supervisor still hears the customer", sups, toneCustomer)
			expectSilent(t, "supervisor no longer hears the agent", sups, toneAgent)
			calls := e.app.SIP.Calls()
			if len(calls) != 1 || strings.Join(calls[0].Agents, ",") != "1002" || calls[0].Callee.Number != "1002" {
				t.Fatalf("live calls %+v, want the customer with 1002", calls)
			}
			invites := 0
			for _, r := range cust.InDialog() {
				if r.Method == sip.INVITE {
					invites++
				}
			}
			if want := map[bool]int{false: 0, true: 2}[held]; invites != want {
				t.Fatalf("customer got %d re-INVITEs, want %d (the hold and earshot's resume only)", invites, want)
			}
			if err := cs.Hangup(ctx(t)); err != nil {
				t.Fatal(err)
			}
			waitEnded(t, "colleague", ss)
			waitActive(t, e, 0)
		})
	}
}

// A blind transfer to a business number whose agents are all busy puts
// the customer in that group's queue: the transferor is released at once,
// the customer hears the music, and the group's agent who frees up first
// gets the customer — on one continuous stream from the first agent's
// voice through the music to the new agent's.
func TestTransferToBusyGroupQueues(t *testing.T) {
	cfg := queueConfig(t)
	tn := &cfg.Tenants[0]
	tn.Groups[0].Agents = []string{"1001"}
	tn.Groups = append(tn.Groups, config.Group{Name: "sales", Numbers: []config.Number{{Number: "200"}}, Agents: []string{"1002"}})
	cfg.SetDefaults()
	e := start(t, cfg)
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	sales := e.agent("1002", "127.0.0.14", toneOther)

	// The sales agent is busy with another customer.
	busy := answerNext(t, sales)
	other, err := e.customer().Call(ctx(t), "200")
	if err != nil {
		t.Fatal(err)
	}
	if <-busy == nil {
		t.Fatal("sales agent did not answer the first customer")
	}
	cs, as := customerToAgent(t, e.customer(), agent)
	cs.RTP.ResetContinuity()
	if code := refer(t, e, "127.0.0.13", as, "200"); code != 202 {
		t.Fatalf("REFER to a busy group: %d, want 202", code)
	}
	waitEnded(t, "the transferring agent", as)
	hearsMusic(t, "customer waiting in the sales queue", cs)
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			var calls []b2bua.CallSnapshot
			callID, _, _ := cs.DialogIDs()
			for _, c := range e.app.SIP.Calls() {
				if c.CallerCallID == callID {
					calls = append(calls, c)
				}
			}
			if len(calls) == 1 && string(calls[0].State) == want && calls[0].Group == "sales" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("customer's call %+v, want %s in sales", calls, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitState("queued")
	next := answerNext(t, sales)
	if err := other.Hangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ss := <-next
	if ss == nil {
		t.Fatal("the sales agent did not get the waiting customer")
	}
	waitState("answered")
	cs.RTP.Clear()
	expectHears(t, "customer hears the sales agent", cs, toneOther)
	expectHears(t, "sales agent hears the customer", ss, toneCustomer)
	strictContinuity(t, "customer", cs)
	_ = cs.Hangup(ctx(t))
	waitEnded(t, "sales agent", ss)
	waitActive(t, e, 0)
}
