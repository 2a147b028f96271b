package control

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// Segment is a stretch of a supervision in one mode.
type Segment struct {
	Mode b2bua.Mode `json:"mode"`
	From time.Time  `json:"from"`
	To   time.Time  `json:"to,omitzero"` // zero while it lasts
}

// SupervisionRecord is a supervision's history: who, on which call, and
// the modes it went through. Ended ones are stored for reports.
type SupervisionRecord struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	CallID     string    `json:"call_id"`
	Supervisor string    `json:"supervisor"`
	Agent      string    `json:"agent"`
	Via        string    `json:"via"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	EndReason  string    `json:"end_reason,omitempty"`
	Segments   []Segment `json:"segments"`
}

// supTracker follows live supervisions' mode segments. Entries are removed
// when their supervision ends; b2bua bounds how many are live.
type supTracker struct {
	mu   sync.Mutex // guards live
	live map[string]*SupervisionRecord
}

func newSupTracker() *supTracker { return &supTracker{live: map[string]*SupervisionRecord{}} }

// observe applies ev and returns the finished record when it ended.
func (t *supTracker) observe(ev *b2bua.SupervisionEvent) *SupervisionRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp, at := &ev.Supervision, ev.Time.UTC()
	rec := t.live[sp.ID]
	switch ev.Type {
	case b2bua.SupervisionStarted, b2bua.SupervisionModeChanged:
		if rec == nil {
			rec = &SupervisionRecord{ID: sp.ID, Tenant: sp.Tenant, CallID: sp.CallID, Supervisor: sp.Supervisor,
				Agent: sp.Agent, Via: sp.Via, StartedAt: at}
			t.live[sp.ID] = rec
		}
		if n := len(rec.Segments); n > 0 {
			rec.Segments[n-1].To = at
		}
		rec.Segments = append(rec.Segments, Segment{Mode: sp.Mode, From: at})
	case b2bua.SupervisionEnded:
		if rec == nil {
			return nil // never attached (not answered, refused)
		}
		delete(t.live, sp.ID)
		if n := len(rec.Segments); n > 0 {
			rec.Segments[n-1].To = at
		}
		rec.EndedAt, rec.EndReason = at, sp.EndReason
		return rec
	}
	return nil
}

// snapshot copies the live records of tenant.
func (t *supTracker) snapshot(tenant string) []SupervisionRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []SupervisionRecord
	for _, r := range t.live {
		if r.Tenant == tenant {
			c := *r
			c.Segments = slices.Clone(r.Segments)
			out = append(out, c)
		}
	}
	return out
}

func putSupervision(tx *bolt.Tx, r *SupervisionRecord) error {
	b, err := tenantBucket(tx, bucketSupervisions, r.Tenant, true)
	if err != nil {
		return err
	}
	return putJSON(b, timeKey(r.EndedAt, []byte(r.ID)), r)
}

// ReportRow is one supervisor's use of one mode over the report's period.
type ReportRow struct {
	Supervisor   string     `json:"supervisor"`
	Mode         b2bua.Mode `json:"mode"`
	Count        int        `json:"count"`
	TotalSeconds float64    `json:"total_seconds"`
}

// SupervisionReport is the answer of GET /reports/supervision.
type SupervisionReport struct {
	From time.Time   `json:"from"`
	To   time.Time   `json:"to"`
	Rows []ReportRow `json:"rows"`
}

func (s *Service) supervisionReport(w http.ResponseWriter, r *http.Request, p Principal) error {
	now := s.now().UTC()
	from, to, err := timeRange(r, now.Add(-24*time.Hour), now)
	if err != nil {
		return err
	}
	var recs []SupervisionRecord
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := tenantBucket(tx, bucketSupervisions, p.Tenant, false)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		// Ended at or after from; those that started after to are skipped
		// by the clipping below.
		for k, v := c.Seek(timeKey(from, nil)); k != nil; k, v = c.Next() {
			var rec SupervisionRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	recs = append(recs, s.sups.snapshot(p.Tenant)...)
	writeJSON(w, http.StatusOK, SupervisionReport{From: from, To: to, Rows: aggregate(recs, from, to, now)})
	return nil
}

// aggregate sums segments per supervisor and mode, clipped to [from, to);
// a segment still open runs until now.
func aggregate(recs []SupervisionRecord, from, to, now time.Time) []ReportRow {
	type key struct {
		sup  string
		mode b2bua.Mode
	}
	sums := map[key]*ReportRow{}
	for _, rec := range recs {
		for _, seg := range rec.Segments {
			end := seg.To
			if end.IsZero() {
				end = now
			}
			a, b := maxTime(seg.From, from), minTime(end, to)
			if !a.Before(b) && !(seg.From.Equal(end) && !seg.From.Before(from) && seg.From.Before(to)) {
				continue
			}
			k := key{rec.Supervisor, seg.Mode}
			row := sums[k]
			if row == nil {
				row = &ReportRow{Supervisor: k.sup, Mode: k.mode}
				sums[k] = row
			}
			row.Count++
			if b.After(a) {
				row.TotalSeconds += b.Sub(a).Seconds()
			}
		}
	}
	rows := make([]ReportRow, 0, len(sums))
	for _, r := range sums {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(x, y ReportRow) int {
		return cmp.Or(cmp.Compare(x.Supervisor, y.Supervisor), cmp.Compare(x.Mode, y.Mode))
	})
	return rows
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
