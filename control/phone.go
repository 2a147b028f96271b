package control

import (
	"errors"
	"slices"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// Help requests from the phone, for those who work from a softphone only.
//
// An agent's help feature codes reach the Service as b2bua.HelpDesk
// (OpenHelp, EndHelp) and take the API's own path (openHelpFor,
// stepHelp): the same checks, audit records, events and assignment. A
// supervisor accepts an open request by dialling a supervision code for
// its agent: the supervision's start event accepts it in the transaction
// that records the start (acceptByDial); a supervisor already listening
// when the request opens accepts it by switching mode with a digit. Whoever a step concerns is told
// on their registered phones by a SIP MESSAGE (notifyHelp, notifyNote).

// OpenHelp implements b2bua.HelpDesk: agent ext asks for help on its
// answered call callID.
func (s *Service) OpenHelp(tenant, ext, callID string) error {
	p, err := s.phoneAgent(tenant, ext)
	if err != nil {
		return err
	}
	_, err = s.openHelpFor(p, callID, "")
	return err
}

// EndHelp implements b2bua.HelpDesk: agent ext ends the active help
// request of call callID, canceling an open one and closing one in
// progress.
func (s *Service) EndHelp(tenant, ext, callID string) (canceled bool, err error) {
	p, err := s.phoneAgent(tenant, ext)
	if err != nil {
		return false, err
	}
	h, err := s.stepHelp(p, func(tx *bolt.Tx) (string, error) {
		return activeHelpOf(tx, tenant, callID)
	}, func(h *HelpRequest) string {
		if h.Status == HelpOpen {
			return "cancel"
		}
		return "close"
	})
	if errors.Is(err, errNotFound) {
		return false, b2bua.ErrNoHelp
	}
	if err != nil {
		return false, err
	}
	return h.Status == HelpCanceled, nil
}

// phoneAgent is the principal of an agent who dialled a help code: the
// b2bua authenticated the phone, the directory gives the role.
func (s *Service) phoneAgent(tenant, ext string) (Principal, error) {
	p := s.phoneUser(tenant, ext)
	if p.Role != RoleAgent {
		return p, b2bua.ErrNotAgent
	}
	return p, nil
}

func (s *Service) phoneUser(tenant, ext string) Principal {
	return Principal{Tenant: tenant, User: ext, Role: Role(s.dir.role(tenant, ext))}
}

// acceptByDial accepts the open help request of the call a supervisor
// started supervising by feature code — or, already on it that way when
// the request opened, switched mode with a digit — when the request is the
// supervised agent's and the user may accept it: the API's transition,
// recorded in the transaction that records the supervision's step.
func (s *Service) acceptByDial(tx *bolt.Tx, ev *b2bua.SupervisionEvent, out *effects) error {
	sp := ev.Supervision
	id, err := activeHelpOf(tx, sp.Tenant, sp.CallID)
	if err != nil || id == "" {
		return err
	}
	h, err := getHelp(tx, sp.Tenant, id)
	if err != nil || h == nil || h.Status != HelpOpen || h.Agent != sp.Agent {
		return err
	}
	p := s.phoneUser(sp.Tenant, sp.Supervisor)
	action, err := h.transition("accept", p, ev.Time.UTC())
	if err != nil {
		return nil // not the user's to accept: the supervision stands, the request stays open
	}
	if err := putHelp(tx, h); err != nil {
		return err
	}
	if err := appendAudit(tx, &AuditRecord{Time: ev.Time, Tenant: p.Tenant, Actor: p.User, Role: string(p.Role),
		Action: action, CallID: h.CallID, HelpRequestID: h.ID, SupervisionID: sp.ID, Via: sp.Via, Result: ResultOK}); err != nil {
		return err
	}
	out.audit++
	out.helps = append(out.helps, h)
	out.events = append(out.events, helpEvent{EventHelpAccepted, h})
	return nil
}

// notifyHelp tells the people a help request's step concerns on their
// phones: its assignees when it is assigned, canceled or closed, the
// agent when a supervisor accepts or closes it.
func (s *Service) notifyHelp(typ string, h *HelpRequest) {
	if s.phones == nil {
		return
	}
	who := s.dir.who(h.Tenant, h.Agent)
	agent := "Agent " + who
	switch typ {
	case EventHelpAssigned:
		text := agent + " asks for help on the call" + s.withCustomer(h) + "."
		if h.Reason != "" {
			text += " Reason: " + h.Reason + "."
		}
		if s.listen != "" {
			text += " Dial " + s.listen + h.Agent + " to listen."
		}
		s.notifyAll(h.Tenant, h.AssignedTo, "", text)
	case EventHelpAccepted:
		sup := "Supervisor " + s.dir.who(h.Tenant, h.HelpProvidedBy)
		s.phones.Notify(h.Tenant, h.Agent, sup+" is helping you on your call"+s.withCustomer(h)+".")
		s.notifyAll(h.Tenant, h.AssignedTo, h.HelpProvidedBy, sup+" took the help request of agent "+who+".")
	case EventHelpCanceled:
		s.notifyAll(h.Tenant, h.AssignedTo, "", agent+" canceled the help request.")
	case EventHelpClosed:
		text := "The help request of agent " + who + " is closed"
		switch {
		case h.CloseReason == CloseCallEnded:
			text += ": the call ended."
		case h.EndedBy == h.Agent:
			text += " by the agent."
		default:
			text += " by " + s.dir.who(h.Tenant, h.EndedBy) + "."
			s.phones.Notify(h.Tenant, h.Agent, "Your help request was closed by "+s.dir.who(h.Tenant, h.EndedBy)+".")
		}
		to := h.AssignedTo
		if h.HelpProvidedBy != "" && !slices.Contains(to, h.HelpProvidedBy) {
			to = append(to[:len(to):len(to)], h.HelpProvidedBy)
		}
		s.notifyAll(h.Tenant, to, h.EndedBy, text)
	}
}

// notifyNote sends a supervisor's note to the phones of the agents it is
// written to.
func (s *Service) notifyNote(n *Note) {
	if s.phones == nil {
		return
	}
	text := "Note from " + s.dir.who(n.Tenant, n.Author) + ": " + n.Text
	s.notifyAll(n.Tenant, n.To, n.Author, text)
}

// notifyAll sends text to each of users but skip.
func (s *Service) notifyAll(tenant string, users []string, skip, text string) {
	for _, u := range users {
		if u != skip {
			s.phones.Notify(tenant, u, text)
		}
	}
}

// withCustomer is " with +4930…" naming the other party of a help
// request's call while it is live, or "".
func (s *Service) withCustomer(h *HelpRequest) string {
	c, ok := s.sw.Call(h.CallID)
	if !ok {
		return ""
	}
	other := c.Caller
	if other.Number == h.Agent {
		other = c.Callee
	}
	if other.Number == "" {
		return ""
	}
	return " with " + other.Number
}
