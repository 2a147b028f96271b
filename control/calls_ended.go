package control

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// Bounds of GET /calls?state=ended.
const (
	defaultEndedLimit = 20
	maxEndedLimit     = 100
	// maxEndedScan bounds the records one request reads, so a filter
	// that matches nothing cannot walk a month of history.
	maxEndedScan = 20000
)

// listEndedCalls serves GET /calls?state=ended: the tenant's ended calls
// from the store, newest first, filtered like the live list. It is what
// the workspace's caller card shows as "previous calls from this number".
func (s *Service) listEndedCalls(w http.ResponseWriter, q url.Values, p Principal) error {
	group, number, caller := q.Get("group"), q.Get("number"), q.Get("caller")
	if q.Has("cursor") {
		return errField("cursor", "only for live calls")
	}
	limit, err := queryLimit(q, defaultEndedLimit, maxEndedLimit)
	if err != nil {
		return err
	}
	out := CallList{Calls: []CallView{}}
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := tenantBucket(tx, bucketCalls, p.Tenant, false)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		scanned := 0
		for k, v := c.Last(); k != nil && len(out.Calls) < limit && scanned < maxEndedScan; k, v = c.Prev() {
			scanned++
			var cs b2bua.CallSnapshot
			if err := json.Unmarshal(v, &cs); err != nil {
				return err
			}
			if cs.State != b2bua.StateEnded || !callVisible(&cs, p) || (group != "" && cs.Group != group) ||
				(number != "" && cs.Number != number) || (caller != "" && cs.Caller.Number != caller) {
				continue
			}
			out.Calls = append(out.Calls, s.view(&cs, cs.EndedAt))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
