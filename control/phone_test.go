package control

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/earshot/earshot/b2bua"
)

// fakePhones records the notifications the service sends.
type fakePhones struct {
	mu   sync.Mutex
	sent []string // "tenant/ext: text"
}

func (p *fakePhones) Notify(tenant, ext, text string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, tenant+"/"+ext+": "+text)
	return 1
}

// take returns and forgets what was sent.
func (p *fakePhones) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.sent
	p.sent = nil
	return out
}

func expectSent(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("sent %q, want %d like %q", got, len(want), want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w[:strings.Index(w, ": ")+2]) || !strings.Contains(got[i], w[strings.Index(w, ": ")+2:]) {
			t.Errorf("sent[%d] = %q, want %q", i, got[i], w)
		}
	}
}

func TestHelpFromPhone(t *testing.T) {
	ph := &fakePhones{}
	f := newFixtureWith(t, ph)

	// Only agents ask for help; the supervisor's phone is refused.
	if err := f.svc.OpenHelp("acme", "2001", "c1"); !errors.Is(err, b2bua.ErrNotAgent) {
		t.Fatalf("supervisor's open: %v", err)
	}
	if err := f.svc.OpenHelp("acme", "1001", "nope"); !errors.Is(err, b2bua.ErrCallNotFound) {
		t.Fatalf("open on no call: %v", err)
	}
	// Another agent's call is not found either.
	if err := f.svc.OpenHelp("acme", "1001", "c2"); !errors.Is(err, b2bua.ErrCallNotFound) {
		t.Fatalf("open on another's call: %v", err)
	}
	if err := f.svc.OpenHelp("acme", "1001", "c1"); err != nil {
		t.Fatal(err)
	}
	expectSent(t, ph.take(), "acme/2001: Agent 1001 asks for help on the call with +15550100. Dial *11001 to listen.")
	if err := f.svc.OpenHelp("acme", "1001", "c1"); !errors.Is(err, b2bua.ErrHelpActive) {
		t.Fatalf("second open: %v", err)
	}

	var list HelpRequestList
	f.must(200, "GET", "/api/v1/help-requests?status=open", tokSup, "").decode(t, &list)
	if len(list.HelpRequests) != 1 || list.HelpRequests[0].Agent != "1001" || list.HelpRequests[0].AssignedTo[0] != "2001" {
		t.Fatalf("open requests %+v", list)
	}
	h := list.HelpRequests[0]

	// The agent ends it before anyone accepts: canceled, the assignee told.
	canceled, err := f.svc.EndHelp("acme", "1001", "c1")
	if err != nil || !canceled {
		t.Fatalf("end: %v %v", canceled, err)
	}
	expectSent(t, ph.take(), "acme/2001: Agent 1001 canceled the help request.")
	if _, err := f.svc.EndHelp("acme", "1001", "c1"); !errors.Is(err, b2bua.ErrNoHelp) {
		t.Fatalf("end with none open: %v", err)
	}
	if _, err := f.svc.EndHelp("acme", "2001", "c1"); !errors.Is(err, b2bua.ErrNotAgent) {
		t.Fatalf("supervisor's end: %v", err)
	}

	// Audited like the API's.
	var audit AuditPage
	f.must(200, "GET", "/api/v1/audit?help_request_id="+h.ID, tokAdmin, "").decode(t, &audit)
	var actions []string
	for _, r := range audit.Records {
		actions = append(actions, r.Action+" by "+r.Actor)
	}
	if !slices.Equal(actions, []string{ActionHelpOpened + " by 1001", ActionHelpCanceled + " by 1001"}) {
		t.Fatalf("audit %q", actions)
	}
}

func TestHelpAcceptedByDialling(t *testing.T) {
	ph := &fakePhones{}
	f := newFixtureWith(t, ph)
	if err := f.svc.OpenHelp("acme", "1001", "c1"); err != nil {
		t.Fatal(err)
	}
	ph.take()

	// A supervision started through the API does not accept it, nor one
	// of another agent's call.
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: b2bua.SupervisionSnapshot{
		ID: "s0", Tenant: "acme", CallID: "c1", Supervisor: "2001", Agent: "1001", Mode: b2bua.ModeListen, Via: b2bua.ViaAPI}})
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: b2bua.SupervisionSnapshot{
		ID: "s1", Tenant: "acme", CallID: "c2", Supervisor: "2001", Agent: "1002", Mode: b2bua.ModeListen, Via: b2bua.ViaFeatureCode}})
	f.svc.flush()
	var list HelpRequestList
	f.must(200, "GET", "/api/v1/help-requests?status=open", tokSup, "").decode(t, &list)
	if len(list.HelpRequests) != 1 {
		t.Fatalf("open requests %+v", list)
	}

	// The supervisor dials *1 + 1001.
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: b2bua.SupervisionSnapshot{
		ID: "s2", Tenant: "acme", CallID: "c1", Supervisor: "2001", Agent: "1001", Mode: b2bua.ModeListen, Via: b2bua.ViaFeatureCode}})
	f.svc.flush()
	var h HelpRequest
	f.must(200, "GET", "/api/v1/help-requests/"+list.HelpRequests[0].ID, tokSup, "").decode(t, &h)
	if h.Status != HelpInProgress || h.HelpProvidedBy != "2001" || h.AcceptedAt.IsZero() {
		t.Fatalf("after the dial-in %+v", h)
	}
	expectSent(t, ph.take(), "acme/1001: Supervisor 2001 is helping you on your call with +15550100.")
	var audit AuditPage
	f.must(200, "GET", "/api/v1/audit?help_request_id="+h.ID+"&action="+ActionHelpAccepted, tokAdmin, "").decode(t, &audit)
	if len(audit.Records) != 1 || audit.Records[0].Actor != "2001" || audit.Records[0].Via != b2bua.ViaFeatureCode ||
		audit.Records[0].SupervisionID != "s2" {
		t.Fatalf("accept audit %+v", audit.Records)
	}

	// The agent's help-close code now closes it; the helper is told.
	canceled, err := f.svc.EndHelp("acme", "1001", "c1")
	if err != nil || canceled {
		t.Fatalf("end: %v %v", canceled, err)
	}
	expectSent(t, ph.take(), "acme/2001: The help request of agent 1001 is closed by the agent.")
}

func TestHelpClosedBySupervisorTellsAgent(t *testing.T) {
	ph := &fakePhones{}
	f := newFixtureWith(t, ph)
	h := f.openHelp()
	expectSent(t, ph.take(), "acme/2001: Reason: angry customer.")
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/accept", tokSup2, "")
	expectSent(t, ph.take(), "acme/1001: Supervisor 2002 is helping you", "acme/2001: Supervisor 2002 took the help request of agent 1001.")
	f.must(200, "POST", "/api/v1/help-requests/"+h.ID+"/close", tokSup2, "")
	expectSent(t, ph.take(), "acme/1001: Your help request was closed by 2002.", "acme/2001: The help request of agent 1001 is closed by 2002.")
}

func TestNoteReachesAgentsPhone(t *testing.T) {
	ph := &fakePhones{}
	f := newFixtureWith(t, ph)
	f.must(201, "POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"offer the discount"}`)
	expectSent(t, ph.take(), "acme/1001: Note from 2001: offer the discount")
}

// A supervisor already listening by feature code when the agent asks for
// help accepts by switching mode with a digit.
func TestHelpAcceptedBySwitchingMode(t *testing.T) {
	f := newFixtureWith(t, &fakePhones{})
	sp := b2bua.SupervisionSnapshot{ID: "s1", Tenant: "acme", CallID: "c1", Supervisor: "2001", Agent: "1001",
		Mode: b2bua.ModeListen, Via: b2bua.ViaFeatureCode}
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionStarted, Time: t0, Supervision: sp})
	f.svc.flush()
	if err := f.svc.OpenHelp("acme", "1001", "c1"); err != nil {
		t.Fatal(err)
	}
	sp.Mode = b2bua.ModeWhisper
	f.svc.SupervisionEvent(b2bua.SupervisionEvent{Type: b2bua.SupervisionModeChanged, Time: t0, Supervision: sp, Previous: b2bua.ModeListen})
	f.svc.flush()
	var list HelpRequestList
	f.must(200, "GET", "/api/v1/help-requests?status=in_progress", tokSup, "").decode(t, &list)
	if len(list.HelpRequests) != 1 || list.HelpRequests[0].HelpProvidedBy != "2001" {
		t.Fatalf("in progress %+v", list)
	}
}
