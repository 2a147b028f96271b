package control

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// CallView is a live call as the API shows it.
type CallView struct {
	b2bua.CallSnapshot
	// DurationSeconds is the time since the call started.
	DurationSeconds float64 `json:"duration_seconds"`
	// HelpRequested is true while the call has an open help request.
	HelpRequested bool `json:"help_requested"`
}

// CallList is the answer of GET /calls.
type CallList struct {
	Calls []CallView `json:"calls"`
}

// callVisible reports whether p may see c: same tenant, and for an agent
// only a call it takes part in.
func callVisible(c *b2bua.CallSnapshot, p Principal) bool {
	if c.Tenant != p.Tenant {
		return false
	}
	return p.Role != RoleAgent || slices.Contains(c.Agents, p.User)
}

func (s *Service) view(c *b2bua.CallSnapshot, now time.Time) CallView {
	end := now
	if !c.EndedAt.IsZero() {
		end = c.EndedAt
	}
	return CallView{CallSnapshot: *c, DurationSeconds: end.Sub(c.StartedAt).Seconds(), HelpRequested: s.helpRequested(c.ID)}
}

func (s *Service) listCalls(w http.ResponseWriter, r *http.Request, p Principal) error {
	q := r.URL.Query()
	group, number, caller := q.Get("group"), q.Get("number"), q.Get("caller")
	if group != "" && !s.dir.hasGroup(p.Tenant, group) {
		return errField("group", "no group %q in your tenant", group)
	}
	switch q.Get("state") {
	case "", "live":
	case "ended":
		return s.listEndedCalls(w, q, p)
	default:
		return errField("state", "want live or ended")
	}
	if q.Has("limit") {
		return errField("limit", "only with state=ended")
	}
	now := s.now()
	all := s.sw.Calls()
	out := CallList{Calls: []CallView{}}
	for i := range all {
		c := &all[i]
		if !callVisible(c, p) || (group != "" && c.Group != group) || (number != "" && c.Number != number) ||
			(caller != "" && c.Caller.Number != caller) {
			continue
		}
		out.Calls = append(out.Calls, s.view(c, now))
	}
	slices.SortFunc(out.Calls, func(a, b CallView) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// lookupCall returns a live call p may see, or a 404 that does not say
// whether the call exists in another tenant.
func (s *Service) lookupCall(id string, p Principal) (b2bua.CallSnapshot, error) {
	c, ok := s.sw.Call(id)
	if !ok || !callVisible(&c, p) {
		return b2bua.CallSnapshot{}, errNotFound
	}
	return c, nil
}

func (s *Service) getCall(w http.ResponseWriter, r *http.Request, p Principal) error {
	c, err := s.lookupCall(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(&c, s.now()))
	return nil
}
