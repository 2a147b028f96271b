package control

import (
	"encoding/base64"
	"encoding/csv"
	"mime"
	"net/http"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditPage is the answer of GET /audit: records in time order and, when
// more follow, the cursor to pass for the next page.
type AuditPage struct {
	Records    []AuditRecord `json:"records"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
	maxCSVRows        = 100_000
)

// timeRange reads from= and to= (RFC 3339), with defaults.
func timeRange(r *http.Request, defFrom, defTo time.Time) (from, to time.Time, err error) {
	q := r.URL.Query()
	from, to = defFrom, defTo
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return from, to, errField("from", "must be an RFC 3339 time like 2025-01-02T15:04:05Z")
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return from, to, errField("to", "must be an RFC 3339 time like 2025-01-02T15:04:05Z")
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, errField("to", "must be after from")
	}
	return from.UTC(), to.UTC(), nil
}

// parseAuditQuery reads the query string of GET /audit.
func parseAuditQuery(r *http.Request) (AuditQuery, error) {
	q := r.URL.Query()
	from, to, err := timeRange(r, time.Time{}, time.Time{})
	if err != nil {
		return AuditQuery{}, err
	}
	aq := AuditQuery{From: from, To: to, Actor: q.Get("actor"), CallID: q.Get("call_id"),
		HelpRequestID: q.Get("help_request_id"), Action: q.Get("action"), Limit: defaultAuditLimit}
	if aq.Limit, err = queryLimit(q, defaultAuditLimit, maxAuditLimit); err != nil {
		return aq, err
	}
	if v := q.Get("cursor"); v != "" {
		c, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(c) != 16 {
			return aq, errField("cursor", "not a cursor this API returned")
		}
		aq.After = c
	}
	return aq, nil
}

// wantsCSV reports whether the Accept header prefers text/csv.
func wantsCSV(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

func (s *Service) listAudit(w http.ResponseWriter, r *http.Request, p Principal) error {
	aq, err := parseAuditQuery(r)
	if err != nil {
		return err
	}
	csvOut := wantsCSV(r)
	if csvOut && r.URL.Query().Get("limit") == "" {
		aq.Limit = maxCSVRows
	}
	var recs []AuditRecord
	var next []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		recs, next, err = queryAudit(tx, p.Tenant, aq)
		return err
	}); err != nil {
		return err
	}
	if csvOut {
		return writeAuditCSV(w, recs, next)
	}
	page := AuditPage{Records: recs}
	if page.Records == nil {
		page.Records = []AuditRecord{}
	}
	if next != nil {
		page.NextCursor = base64.RawURLEncoding.EncodeToString(next)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// auditColumns is the CSV header.
func auditColumns() []string {
	return []string{"id", "time", "tenant", "actor", "role", "action", "call_id", "help_request_id", "supervision_id", "mode", "via", "result", "detail"}
}

func writeAuditCSV(w http.ResponseWriter, recs []AuditRecord, next []byte) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.csv"`)
	if next != nil {
		w.Header().Set("X-Next-Cursor", base64.RawURLEncoding.EncodeToString(next))
	}
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(auditColumns())
	for _, r := range recs {
		_ = cw.Write([]string{r.ID, r.Time.Format("2006-01-02T15:04:05.000Z"), r.Tenant, csvSafe(r.Actor), r.Role, r.Action,
			csvSafe(r.CallID), r.HelpRequestID, csvSafe(r.SupervisionID), r.Mode, r.Via, r.Result, csvSafe(r.Detail)})
	}
	cw.Flush()
	return nil
}

// csvSafe defuses spreadsheet formulas in values that come from outside
// (call ids, error texts): a leading = + - @ is prefixed with a quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
