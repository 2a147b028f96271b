package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// story is the walk-through. Every step that cannot continue returns an
// error; measurements that disagree with the hear-matrix are counted.
func (d *run) story() error {
	var err error
	if d.agent, err = d.phone("agent", "127.0.0.1", "1001", toneAgent); err != nil {
		return err
	}
	defer d.agent.ph.Close()
	if d.sup, err = d.phone("supervisor", "127.0.0.1", "2001", toneSupervisor); err != nil {
		return err
	}
	defer d.sup.ph.Close()
	if d.cust, err = d.phone("customer", "127.0.0.2", "5551234", toneCustomer); err != nil {
		return err
	}
	defer d.cust.ph.Close()
	fmt.Fprintf(d.out, "Parties: customer (%.0f Hz tone) on the trunk address 127.0.0.2, agent 1001 (%.0f Hz), supervisor 2001 (%.0f Hz).\n\n",
		toneCustomer, toneAgent, toneSupervisor)

	d.step("The customer calls the support line 100; agent 1001 answers.")
	answered := d.answerNext(d.agent)
	if d.cust.s, err = d.cust.ph.Call(d.ctx, "100"); err != nil {
		return fmt.Errorf("customer call: %w", err)
	}
	if d.agent.s = <-answered; d.agent.s == nil {
		return fmt.Errorf("agent did not answer")
	}
	defer d.cust.s.Hangup(context.Background())
	d.check("plain call", map[*party][]*party{d.cust: {d.agent}, d.agent: {d.cust}})

	events := d.events("demo-2001")
	var calls struct {
		Calls []struct {
			ID string `json:"id"`
		} `json:"calls"`
	}
	if err := d.api("demo-2001", "GET", "/calls", nil, &calls); err != nil || len(calls.Calls) != 1 {
		return fmt.Errorf("live calls: %v %v", err, calls)
	}
	callID := calls.Calls[0].ID

	d.step("Agent 1001 asks for help (POST /api/v1/help-requests).")
	var hr struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := d.api("demo-1001", "POST", "/help-requests", map[string]any{"call_id": callID, "reason": "customer wants a refund"}, &hr); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  help request %s is %s\n", hr.ID, hr.Status)
	select {
	case ev := <-events:
		fmt.Fprintf(d.out, "  supervisor 2001's event stream: %s\n", ev)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("the supervisor was not notified")
	}

	d.step("Supervisor 2001 accepts it.")
	var res helpResult
	if err := d.api("demo-2001", "POST", "/help-requests/"+hr.ID+"/accept", nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  help request is %s, help provided by %s: %s\n", res.HelpRequest.Status,
		res.HelpRequest.HelpProvidedBy, res.Confirmation)

	d.step("The supervisor starts a whisper: earshot rings the supervisor's phone, which answers.")
	answered = d.answerNext(d.sup)
	var sv struct {
		ID string `json:"id"`
	}
	if err := d.api("demo-2001", "POST", "/calls/"+callID+"/supervisions", map[string]any{"mode": "whisper"}, &sv); err != nil {
		return err
	}
	if d.sup.s = <-answered; d.sup.s == nil {
		return fmt.Errorf("the supervisor's phone did not answer")
	}
	d.check("whisper", map[*party][]*party{d.cust: {d.agent}, d.agent: {d.cust, d.sup}, d.sup: {d.cust, d.agent}})

	for _, m := range []struct {
		mode string
		want map[*party][]*party
	}{
		{"barge", map[*party][]*party{d.cust: {d.agent, d.sup}, d.agent: {d.cust, d.sup}, d.sup: {d.cust, d.agent}}},
		{"listen", map[*party][]*party{d.cust: {d.agent}, d.agent: {d.cust}, d.sup: {d.cust, d.agent}}},
	} {
		d.step("Switch to %s (PATCH /api/v1/supervisions/%s).", m.mode, sv.ID)
		if err := d.api("demo-2001", "PATCH", "/supervisions/"+sv.ID, map[string]any{"mode": m.mode}, nil); err != nil {
			return err
		}
		d.check(m.mode, m.want)
	}

	d.step("Intercept: the supervisor takes the call over, the agent is released.")
	if err := d.api("demo-2001", "PATCH", "/supervisions/"+sv.ID, map[string]any{"mode": "intercept"}, nil); err != nil {
		return err
	}
	select {
	case <-d.agent.s.Ended():
		fmt.Fprintln(d.out, "  the agent's phone got BYE")
	case <-time.After(5 * time.Second):
		d.wrong++
		fmt.Fprintln(d.out, "  WRONG: the agent's call did not end")
	}
	d.check("intercept", map[*party][]*party{d.cust: {d.sup}, d.sup: {d.cust}})

	d.step("The agent closes the help request; the supervisor ends the call.")
	if err := d.api("demo-1001", "POST", "/help-requests/"+hr.ID+"/close", nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  help request is %s: %s\n", res.HelpRequest.Status, res.Confirmation)
	_ = d.sup.s.Hangup(d.ctx)
	select {
	case <-d.cust.s.Ended():
	case <-time.After(5 * time.Second):
		d.wrong++
		fmt.Fprintln(d.out, "  WRONG: the customer's call did not end")
	}
	return d.summary(callID)
}

// helpResult is the answer of a help-request action.
type helpResult struct {
	HelpRequest struct {
		Status         string `json:"status"`
		HelpProvidedBy string `json:"help_provided_by"`
	} `json:"help_request"`
	Confirmation string `json:"confirmation"`
}

// summary prints the call's audit trail and the statistics.
func (d *run) summary(callID string) error {
	var page struct {
		Records []struct {
			Time   time.Time `json:"time"`
			Actor  string    `json:"actor"`
			Action string    `json:"action"`
			Mode   string    `json:"mode"`
			Result string    `json:"result"`
		} `json:"records"`
	}
	// Supervision events reach the audit asynchronously; the call's end is
	// the last of them.
	deadline := time.Now().Add(3 * time.Second)
	for {
		if err := d.api("demo-2001", "GET", "/audit?call_id="+callID, nil, &page); err != nil {
			return err
		}
		n := len(page.Records)
		if (n > 0 && page.Records[n-1].Action == "supervision.ended") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(d.out, "\nAudit trail of the call (GET /api/v1/audit?call_id=%s):\n", callID)
	for _, r := range page.Records {
		fmt.Fprintf(d.out, "  %s  %-6s %-26s %-9s %s\n", r.Time.Format("15:04:05.000"), r.Actor, r.Action, r.Mode, r.Result)
	}
	var stats json.RawMessage
	if err := d.api("demo-2001", "GET", "/stats", nil, &stats); err != nil {
		return err
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, stats, "  ", "  ")
	fmt.Fprintf(d.out, "\nStatistics (GET /api/v1/stats):\n  %s\n", pretty.String())
	return nil
}

// answerNext answers p's next incoming call.
func (d *run) answerNext(p *party) <-chan *phoneSession {
	ch := make(chan *phoneSession, 1)
	go func() {
		in, err := p.ph.Next(d.ctx)
		if err != nil {
			ch <- nil
			return
		}
		_ = in.Ring()
		s, err := in.Answer()
		if err != nil {
			ch <- nil
			return
		}
		ch <- s
	}()
	return ch
}

// api calls the REST API with a demo token; a non-2xx answer is an error.
func (d *run) api(token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(d.ctx, method, "http://"+d.app.HTTPAddr+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, res.Status, strings.TrimSpace(string(raw)))
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// events follows the SSE stream of token and yields help-request
// assignments.
func (d *run) events(token string) <-chan string {
	ch := make(chan string, 8)
	req, _ := http.NewRequestWithContext(d.ctx, "GET", "http://"+d.app.HTTPAddr+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	// The stream's headers arrive once the subscription is made: waiting
	// for them here means no event published after events returns is
	// missed (on a loaded machine the request could start after the help
	// request it is meant to see).
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil // never yields: the story fails at its wait
	}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			if t, ok := strings.CutPrefix(line, "event: "); ok {
				typ = t
			} else if data, ok := strings.CutPrefix(line, "data: "); ok && typ == "help_request.assigned" {
				select {
				case ch <- typ + " " + data:
				default:
				}
			}
		}
	}()
	return ch
}
