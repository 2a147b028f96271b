package control

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Audit actions.
const (
	ActionHelpOpened           = "help_request.opened"
	ActionHelpAccepted         = "help_request.accepted"
	ActionHelpClosed           = "help_request.closed"
	ActionHelpCanceled         = "help_request.canceled"
	ActionSupervisionRequested = "supervision.requested"    // API: ring the supervisor
	ActionSupervisionChange    = "supervision.change_mode"  // API: switch mode
	ActionSupervisionEnd       = "supervision.end"          // API: disconnect
	ActionSupervisionStarted   = "supervision.started"      // the leg is attached (any origin)
	ActionSupervisionSwitched  = "supervision.mode_changed" // any origin, DTMF included
	ActionSupervisionRefused   = "supervision.refused"
	ActionSupervisionEnded     = "supervision.ended"
	ActionIntercept            = "supervision.intercept" // a supervisor took the call over
	ActionNote                 = "note.created"
)

// Results of an audited action.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed" // Detail says why
	ResultRefused = "refused"
)

// AuditRecord is one audited action. Time is UTC with millisecond precision.
type AuditRecord struct {
	ID            string    `json:"id"`
	Time          time.Time `json:"time"`
	Tenant        string    `json:"tenant"`
	Actor         string    `json:"actor"` // extension, or "system"
	Role          string    `json:"role"`
	Action        string    `json:"action"`
	CallID        string    `json:"call_id,omitempty"`
	HelpRequestID string    `json:"help_request_id,omitempty"`
	SupervisionID string    `json:"supervision_id,omitempty"`
	Mode          string    `json:"mode,omitempty"`
	Via           string    `json:"via,omitempty"`
	Result        string    `json:"result"`
	Detail        string    `json:"detail,omitempty"`
}

// systemActor is the actor of records earshot writes on its own (a call
// ended, a restart).
const systemActor = "system"

// appendAudit writes rec (its ID and Time filled in here) in tx. The caller
// counts it once the transaction commits.
func appendAudit(tx *bolt.Tx, rec *AuditRecord) error {
	b, err := tenantBucket(tx, bucketAudit, rec.Tenant, true)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	rec.Time = rec.Time.UTC().Truncate(time.Millisecond)
	k := timeKey(rec.Time, seqSuffix(seq))
	rec.ID = base64.RawURLEncoding.EncodeToString(k)
	return putJSON(b, k, rec)
}

// AuditQuery selects audit records of one tenant. Zero fields match all.
type AuditQuery struct {
	From, To      time.Time // [From, To)
	Actor         string
	CallID        string
	HelpRequestID string
	Action        string
	After         []byte // cursor: the key of the last record already returned
	Limit         int
}

func (q *AuditQuery) match(r *AuditRecord) bool {
	return (q.Actor == "" || r.Actor == q.Actor) &&
		(q.CallID == "" || r.CallID == q.CallID) &&
		(q.HelpRequestID == "" || r.HelpRequestID == q.HelpRequestID) &&
		(q.Action == "" || r.Action == q.Action)
}

// queryAudit returns up to q.Limit matching records in time order and the
// cursor of the last one when more may follow.
func queryAudit(tx *bolt.Tx, tenant string, q AuditQuery) ([]AuditRecord, []byte, error) {
	b, err := tenantBucket(tx, bucketAudit, tenant, false)
	if err != nil || b == nil {
		return nil, nil, err
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case q.After != nil:
		k, v = c.Seek(q.After)
		if bytes.Equal(k, q.After) {
			k, v = c.Next()
		}
	case !q.From.IsZero():
		k, v = c.Seek(timeKey(q.From, nil))
	default:
		k, v = c.First()
	}
	var out []AuditRecord
	var last []byte
	for ; k != nil; k, v = c.Next() {
		if !q.To.IsZero() && !keyTime(k).Before(q.To) {
			break
		}
		if !q.From.IsZero() && keyTime(k).Before(q.From) {
			continue
		}
		var r AuditRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, nil, err
		}
		if !q.match(&r) {
			continue
		}
		if len(out) == q.Limit {
			return out, last, nil
		}
		out = append(out, r)
		last = append(last[:0], k...)
	}
	return out, nil, nil
}
