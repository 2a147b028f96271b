package control

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HelpStatus is where a help request is in its life.
//
//	open ──accept──▶ in_progress ──close──▶ closed
//	  │                                        ▲
//	  ├──close─────────────────────────────────┘
//	  └──cancel──▶ canceled
//
// A call that ends closes its open and in-progress requests (reason
// call_ended); so does a restart for those left over (reason restart).
type HelpStatus string

// Help request statuses.
const (
	HelpOpen       HelpStatus = "open"
	HelpInProgress HelpStatus = "in_progress"
	HelpClosed     HelpStatus = "closed"
	HelpCanceled   HelpStatus = "canceled"
)

// helpStatuses lists every status, for validation and metrics.
func helpStatuses() []HelpStatus {
	return []HelpStatus{HelpOpen, HelpInProgress, HelpClosed, HelpCanceled}
}

// active reports whether s still counts as the call's request.
func (s HelpStatus) active() bool { return s == HelpOpen || s == HelpInProgress }

// Close reasons.
const (
	CloseByUser    = "closed"     // the agent or a supervisor closed it
	CloseCallEnded = "call_ended" // its call ended
	CloseRestart   = "restart"    // earshot restarted while it was active
)

// HelpRequest is an agent's request for a supervisor's help on a call.
type HelpRequest struct {
	ID             string     `json:"id"`
	Tenant         string     `json:"tenant"`
	CallID         string     `json:"call_id"`
	Group          string     `json:"group,omitempty"`
	Agent          string     `json:"agent"`
	Reason         string     `json:"reason,omitempty"`
	Status         HelpStatus `json:"status"`
	AssignedTo     []string   `json:"assigned_to"`
	HelpProvidedBy string     `json:"help_provided_by,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	AcceptedAt     time.Time  `json:"accepted_at,omitzero"`
	EndedAt        time.Time  `json:"ended_at,omitzero"`
	EndedBy        string     `json:"ended_by,omitempty"`
	CloseReason    string     `json:"close_reason,omitempty"`
}

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return prefix + hex.EncodeToString(b[:])
}

func getHelp(tx *bolt.Tx, tenant, id string) (*HelpRequest, error) {
	b, err := tenantBucket(tx, bucketHelpRequests, tenant, false)
	if err != nil || b == nil {
		return nil, err
	}
	raw := b.Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	var h HelpRequest
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// putHelp stores h and keeps the active index in step with its status.
func putHelp(tx *bolt.Tx, h *HelpRequest) error {
	b, err := tenantBucket(tx, bucketHelpRequests, h.Tenant, true)
	if err != nil {
		return err
	}
	if err := putJSON(b, []byte(h.ID), h); err != nil {
		return err
	}
	idx, err := tenantBucket(tx, bucketActiveHelp, h.Tenant, true)
	if err != nil {
		return err
	}
	if h.Status.active() {
		return idx.Put([]byte(h.CallID), []byte(h.ID))
	}
	if string(idx.Get([]byte(h.CallID))) == h.ID {
		return idx.Delete([]byte(h.CallID))
	}
	return nil
}

// activeHelpOf returns the id of the call's open or in-progress request.
func activeHelpOf(tx *bolt.Tx, tenant, callID string) (string, error) {
	idx, err := tenantBucket(tx, bucketActiveHelp, tenant, false)
	if err != nil || idx == nil {
		return "", err
	}
	return string(idx.Get([]byte(callID))), nil
}

// eachActiveHelp calls fn for every open or in-progress request.
func eachActiveHelp(tx *bolt.Tx, fn func(*HelpRequest) error) error {
	top := tx.Bucket(bucketActiveHelp)
	return top.ForEachBucket(func(tenant []byte) error {
		return top.Bucket(tenant).ForEach(func(_, id []byte) error {
			h, err := getHelp(tx, string(tenant), string(id))
			if err != nil || h == nil {
				return err
			}
			return fn(h)
		})
	})
}

// eachHelp calls fn for every request of tenant ("" for all tenants).
func eachHelp(tx *bolt.Tx, tenant string, fn func(*HelpRequest) error) error {
	top := tx.Bucket(bucketHelpRequests)
	return top.ForEachBucket(func(name []byte) error {
		if tenant != "" && string(name) != tenant {
			return nil
		}
		return top.Bucket(name).ForEach(func(_, v []byte) error {
			var h HelpRequest
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			return fn(&h)
		})
	})
}

// transition checks and applies a lifecycle step to h, by who at now. It
// returns the audit action, or an error with the HTTP status of the refusal.
func (h *HelpRequest) transition(op string, p Principal, now time.Time) (string, error) {
	switch op {
	case "accept":
		if !p.canSupervise() {
			return "", errForbidden
		}
		if h.Status != HelpOpen {
			return "", errStatus(http.StatusConflict, "help request is %s; only an open one can be accepted", h.Status)
		}
		h.Status, h.HelpProvidedBy, h.AcceptedAt = HelpInProgress, p.User, now
		return ActionHelpAccepted, nil
	case "close":
		if p.Role == RoleAgent && h.Agent != p.User {
			return "", errNotFound
		}
		if !h.Status.active() {
			return "", errStatus(http.StatusConflict, "help request is already %s", h.Status)
		}
		h.end(HelpClosed, p.User, CloseByUser, now)
		return ActionHelpClosed, nil
	case "cancel":
		if p.Role != RoleAgent || h.Agent != p.User {
			if p.Role == RoleAgent {
				return "", errNotFound
			}
			return "", errStatus(http.StatusForbidden, "only the agent who opened a help request can cancel it")
		}
		if h.Status != HelpOpen {
			return "", errStatus(http.StatusConflict, "help request is %s; only an open one can be canceled", h.Status)
		}
		h.end(HelpCanceled, p.User, "", now)
		return ActionHelpCanceled, nil
	}
	return "", errNotFound
}

func (h *HelpRequest) end(s HelpStatus, by, reason string, now time.Time) {
	h.Status, h.EndedBy, h.CloseReason, h.EndedAt = s, by, reason, now
}

// visibleTo reports whether p may see h at all (tenant is checked by the
// bucket it is read from).
func (h *HelpRequest) visibleTo(p Principal) bool {
	return p.Role != RoleAgent || h.Agent == p.User
}
