package control

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
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
	b.FillPercent = auditFill
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	rec.Time = rec.Time.UTC().Truncate(time.Millisecond)
	if y := rec.Time.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("audit record time %v: year outside [0,9999]", rec.Time)
	}
	// Key and value share one allocation (bbolt keeps both until the
	// commit): an agent's every state change is audited, four records
	// per call at thousands of calls a second.
	buf := make([]byte, 16, 16+auditSizeHint)
	binary.BigEndian.PutUint64(buf, uint64(rec.Time.UnixMilli()))
	binary.BigEndian.PutUint64(buf[8:], seq)
	k := buf[:16:16]
	rec.ID = base64.RawURLEncoding.EncodeToString(k)
	return b.Put(k, appendAuditJSON(buf[16:], rec))
}

// auditSizeHint is room for a typical record's JSON.
const auditSizeHint = 224

// appendAuditJSON appends rec as encoding/json encodes it (the same bytes,
// TestAuditEncoderMatchesJSON), without its reflection. rec.Time is UTC
// with millisecond precision, as appendAudit leaves it, so it always has
// a four-digit year.
func appendAuditJSON(b []byte, rec *AuditRecord) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, rec.ID)
	b = append(b, `,"time":"`...)
	b = rec.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","tenant":`...)
	b = appendJSONString(b, rec.Tenant)
	b = append(b, `,"actor":`...)
	b = appendJSONString(b, rec.Actor)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, rec.Role)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, rec.Action)
	for _, f := range [...]struct{ key, v string }{
		{`,"call_id":`, rec.CallID}, {`,"help_request_id":`, rec.HelpRequestID},
		{`,"supervision_id":`, rec.SupervisionID}, {`,"mode":`, rec.Mode}, {`,"via":`, rec.Via},
	} {
		if f.v != "" {
			b = append(b, f.key...)
			b = appendJSONString(b, f.v)
		}
	}
	b = append(b, `,"result":`...)
	b = appendJSONString(b, rec.Result)
	if rec.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, rec.Detail)
	}
	return append(b, '}')
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
