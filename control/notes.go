package control

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Note is a supervisor's message to the agents of a call.
type Note struct {
	ID     string    `json:"id"`
	Tenant string    `json:"tenant"`
	CallID string    `json:"call_id"`
	Author string    `json:"author"`
	To     []string  `json:"to"` // the call's agents when it was written
	Text   string    `json:"text"`
	Time   time.Time `json:"time"`
}

// NoteRequest is the body of POST /calls/{id}/notes.
type NoteRequest struct {
	Text string `json:"text"`
}

// NoteList is the answer of GET /notes.
type NoteList struct {
	Notes []Note `json:"notes"`
}

func (s *Service) createNote(w http.ResponseWriter, r *http.Request, p Principal) error {
	c, err := s.lookupCall(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	var req NoteRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := checkText("text", req.Text, MaxNoteLength, true); err != nil {
		return err
	}
	if len(c.Agents) == 0 {
		return errStatus(http.StatusConflict, "the call has no agent to write to")
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	n := Note{ID: newID("nt_"), Tenant: p.Tenant, CallID: c.ID, Author: p.User, To: slices.Clone(c.Agents), Text: req.Text, Time: now}
	err = write(s.db, s.batch, func(tx *bolt.Tx) error {
		b, err := tenantBucket(tx, bucketNotes, p.Tenant, true)
		if err != nil {
			return err
		}
		if err := putJSON(b, timeKey(now, []byte(n.ID)), &n); err != nil {
			return err
		}
		return appendAudit(tx, &AuditRecord{Time: now, Tenant: p.Tenant, Actor: p.User, Role: string(p.Role),
			Action: ActionNote, CallID: c.ID, Result: ResultOK, Detail: "note " + n.ID})
	})
	if err != nil {
		return err
	}
	s.metrics.audit.Add(1)
	s.hub.publish(audience{tenant: p.Tenant, users: n.To}, Event{Type: EventNote, Time: now, Data: n})
	s.notifyNote(&n)
	writeJSON(w, http.StatusCreated, n)
	return nil
}

// listNotes serves GET /notes: an agent's notes, or all of the tenant's
// for supervisors; ?call_id= narrows to one call. Newest last.
func (s *Service) listNotes(w http.ResponseWriter, r *http.Request, p Principal) error {
	callID := r.URL.Query().Get("call_id")
	out := NoteList{Notes: []Note{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := tenantBucket(tx, bucketNotes, p.Tenant, false)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			var n Note
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			if (callID == "" || n.CallID == callID) && (p.canSupervise() || slices.Contains(n.To, p.User)) {
				out.Notes = append(out.Notes, n)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
