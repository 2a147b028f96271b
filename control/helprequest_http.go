package control

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// OpenHelpRequest is the body of POST /help-requests.
type OpenHelpRequest struct {
	CallID string `json:"call_id"`
	Reason string `json:"reason"`
}

// HelpRequestList is the answer of GET /help-requests.
type HelpRequestList struct {
	HelpRequests []HelpRequest `json:"help_requests"`
}

// HelpRequestResult is the answer of the lifecycle actions: the request
// after the step and a sentence confirming it.
type HelpRequestResult struct {
	HelpRequest  HelpRequest `json:"help_request"`
	Confirmation string      `json:"confirmation"`
}

// checkText validates free text from a body: bounded, UTF-8, and no
// control characters other than newlines and tabs.
func checkText(field, s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return errField(field, "required")
	case !utf8.ValidString(s):
		return errField(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		return errField(field, "longer than %d characters", max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return errField(field, "must not contain control characters")
	}
	return nil
}

func (req *OpenHelpRequest) check() error {
	if req.CallID == "" {
		return errField("call_id", "required")
	}
	if len(req.CallID) > 200 {
		return errField("call_id", "too long")
	}
	return checkText("reason", req.Reason, MaxReasonLength, false)
}

func (s *Service) openHelp(w http.ResponseWriter, r *http.Request, p Principal) error {
	if p.Role != RoleAgent {
		return errStatus(http.StatusForbidden, "only agents open help requests")
	}
	var req OpenHelpRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	h, err := s.openHelpFor(p, req.CallID, req.Reason)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/help-requests/"+h.ID)
	writeJSON(w, http.StatusCreated, h)
	return nil
}

// openHelpFor opens a help request of agent p on its answered call: the
// API's and the help feature code's path. Refusals wrap the b2bua error
// that says why, for the phone's answer.
func (s *Service) openHelpFor(p Principal, callID, reason string) (*HelpRequest, error) {
	c, err := s.lookupCall(callID, p)
	if err != nil {
		return nil, errWrap(b2bua.ErrCallNotFound, http.StatusNotFound, "call_id: no such call of yours")
	}
	if c.State != b2bua.StateAnswered {
		return nil, errWrap(b2bua.ErrCallNotAnswered, http.StatusConflict, "the call is %s; help can be requested on an answered call", c.State)
	}
	now := s.now().UTC()
	h := &HelpRequest{ID: newID("hr_"), Tenant: p.Tenant, CallID: c.ID, Group: c.Group, Agent: p.User,
		Reason: reason, Status: HelpOpen, AssignedTo: s.dir.assignees(p.Tenant, c.Group), CreatedAt: now}
	err = write(s.db, s.batch, func(tx *bolt.Tx) error {
		if id, err := activeHelpOf(tx, p.Tenant, c.ID); err != nil {
			return err
		} else if id != "" {
			return errWrap(b2bua.ErrHelpActive, http.StatusConflict, "the call already has help request %s; close it first", id)
		}
		if err := putHelp(tx, h); err != nil {
			return err
		}
		return appendAudit(tx, &AuditRecord{Time: now, Tenant: p.Tenant, Actor: p.User, Role: string(p.Role),
			Action: ActionHelpOpened, CallID: c.ID, HelpRequestID: h.ID, Result: ResultOK})
	})
	if err != nil {
		return nil, err
	}
	s.apply(&effects{audit: 1, helps: []*HelpRequest{h}, events: []helpEvent{{EventHelpAssigned, h}}})
	return h, nil
}

func (s *Service) listHelp(w http.ResponseWriter, r *http.Request, p Principal) error {
	status := HelpStatus(r.URL.Query().Get("status"))
	if status != "" && !slices.Contains(helpStatuses(), status) {
		return errField("status", "must be one of open, in_progress, closed, canceled")
	}
	out := HelpRequestList{HelpRequests: []HelpRequest{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketHelpRequests).Bucket([]byte(p.Tenant)) == nil {
			return nil
		}
		return eachHelp(tx, p.Tenant, func(h *HelpRequest) error {
			if h.visibleTo(p) && (status == "" || h.Status == status) {
				out.HelpRequests = append(out.HelpRequests, *h)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	slices.SortFunc(out.HelpRequests, func(a, b HelpRequest) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) getHelp(w http.ResponseWriter, r *http.Request, p Principal) error {
	var h *HelpRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		h, err = getHelp(tx, p.Tenant, r.PathValue("id"))
		return err
	})
	if err != nil {
		return err
	}
	if h == nil || !h.visibleTo(p) {
		return errNotFound
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// helpAction serves accept, close and cancel: the check and the change run
// in one transaction, so of two concurrent accepts exactly one finds the
// request open.
func (s *Service) helpAction(op string) func(http.ResponseWriter, *http.Request, Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p Principal) error {
		id := r.PathValue("id")
		h, err := s.stepHelp(p, func(*bolt.Tx) (string, error) { return id, nil }, func(*HelpRequest) string { return op })
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, HelpRequestResult{HelpRequest: *h, Confirmation: confirmation(h)})
		return nil
	}
}

// stepHelp applies a lifecycle step by p to the request pick names (no
// such request: errNotFound), the step op chooses for it; the check, the
// change and the audit record share one transaction. The API's actions
// and the help feature codes take this path.
func (s *Service) stepHelp(p Principal, pick func(*bolt.Tx) (string, error), op func(*HelpRequest) string) (*HelpRequest, error) {
	now := s.now().UTC()
	var h *HelpRequest
	var action string
	err := write(s.db, s.batch, func(tx *bolt.Tx) error {
		id, err := pick(tx)
		if err != nil {
			return err
		}
		if h, err = getHelp(tx, p.Tenant, id); err != nil {
			return err
		}
		if h == nil || !h.visibleTo(p) {
			return errNotFound
		}
		if action, err = h.transition(op(h), p, now); err != nil {
			return err
		}
		if err := putHelp(tx, h); err != nil {
			return err
		}
		return appendAudit(tx, &AuditRecord{Time: now, Tenant: p.Tenant, Actor: p.User, Role: string(p.Role),
			Action: action, CallID: h.CallID, HelpRequestID: h.ID, Result: ResultOK})
	})
	if err != nil {
		return nil, err
	}
	s.apply(&effects{audit: 1, helps: []*HelpRequest{h}, events: []helpEvent{{helpEventOf(action), h}}})
	return h, nil
}

// helpEventOf is the event type of a lifecycle step's audit action.
func helpEventOf(action string) string {
	return map[string]string{ActionHelpAccepted: EventHelpAccepted, ActionHelpClosed: EventHelpClosed, ActionHelpCanceled: EventHelpCanceled}[action]
}

func confirmation(h *HelpRequest) string {
	switch h.Status {
	case HelpInProgress:
		return "Help request " + h.ID + " accepted by " + h.HelpProvidedBy + "."
	case HelpCanceled:
		return "Help request " + h.ID + " canceled."
	}
	return "Help request " + h.ID + " closed. You can open a new one on this call if you need more help."
}

// publishHelp sends a help request's event: to the agent who opened it,
// to its assignees when it is assigned or canceled, and to every
// supervisor of the tenant when it is accepted or closed (their boards
// show who took it).
func (s *Service) publishHelp(typ string, h *HelpRequest) {
	a := audience{tenant: h.Tenant, users: append([]string{h.Agent}, h.AssignedTo...)}
	if typ == EventHelpAccepted || typ == EventHelpClosed {
		a.supervisors = true
	}
	s.hub.publish(a, Event{Type: typ, Time: s.now().UTC(), Data: h})
}
