package control

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// CallView is a live call as the API shows it.
type CallView struct {
	b2bua.CallSnapshot
	// DurationSeconds is the time since the call started (to its end
	// for an ended call), in whole milliseconds.
	DurationSeconds float64 `json:"duration_seconds"`
	// HelpRequested is true while the call has an open help request.
	HelpRequested bool `json:"help_requested"`
}

// CallList is the answer of GET /calls.
type CallList struct {
	Calls []CallView `json:"calls"`
	// NextCursor, on a page of live calls (limit), names where the next
	// page starts; it is absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
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
	v := viewAt(c, now)
	v.HelpRequested = s.helpRequested(c.ID)
	return v
}

// viewAt is c's view at now without its help-requested flag.
func viewAt(c *b2bua.CallSnapshot, now time.Time) CallView {
	end := now
	if !c.EndedAt.IsZero() {
		end = c.EndedAt
	}
	return CallView{CallSnapshot: *c, DurationSeconds: durationSeconds(end.Sub(c.StartedAt))}
}

// durationSeconds is d in seconds, to the millisecond: a duration's
// nanoseconds are noise to a person, and a whole number of milliseconds
// encodes fast (appendJSONMillis).
func durationSeconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
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
	page, err := parseLivePage(q)
	if err != nil {
		return err
	}
	now := s.now()
	lb := s.listBufs.Get().(*listBuf)
	defer s.releaseListBuf(lb)
	lb.all = appendCalls(s.sw, lb.all[:0])
	for _, c := range lb.all {
		if !callVisible(c, p) || (group != "" && c.Group != group) || (number != "" && c.Number != number) ||
			(caller != "" && c.Caller.Number != caller) {
			continue
		}
		lb.items = append(lb.items, listItem{c: c, sec: c.StartedAt.Unix(), nsec: c.StartedAt.Nanosecond()})
	}
	// Sorting small items on keys taken once: a CallView is a few hundred
	// bytes to swap, and time.Time.Compare is slower than two integers.
	// The switchboard lists calls in start order (b2bua.Server does), so
	// mostly this finds them sorted already.
	if !slices.IsSortedFunc(lb.items, compareItems) {
		slices.SortFunc(lb.items, compareItems)
	}
	items, next := page.of(lb.items)
	s.markHelpRequested(items)
	body, ok := s.callJSON.appendList(lb.body[:0], items, next, len(lb.all), now)
	lb.body = body
	if !ok {
		out := CallList{Calls: make([]CallView, 0, len(items)), NextCursor: next}
		for _, it := range items {
			v := viewAt(it.c, now)
			v.HelpRequested = it.help
			out.Calls = append(out.Calls, v)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	writeBody(w, body)
	return nil
}

// Bounds of a page of live calls (GET /calls?limit=).
const maxLiveLimit = 1000

// livePage is a page of the live list asked for: at most limit calls (0:
// all of them) after the call the cursor names.
type livePage struct {
	limit int
	after *listItem
}

// parseLivePage reads limit and cursor. A cursor is the place of the
// last call of the page before: its start time and id. Paging by place,
// not by offset, a call that ends between two pages moves no other call
// to the page already read, and a call that starts meanwhile comes on a
// later page (it starts after every call listed).
func parseLivePage(q url.Values) (livePage, error) {
	var pg livePage
	var err error
	if pg.limit, err = queryLimit(q, 0, maxLiveLimit); err != nil {
		return pg, err
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) <= 8 {
			return pg, errField("cursor", "not a cursor this API returned")
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
		pg.after = &listItem{c: &b2bua.CallSnapshot{ID: string(b[8:])}, sec: at.Unix(), nsec: at.Nanosecond()}
	}
	return pg, nil
}

// of returns the page of items (sorted by compareItems), and the cursor
// of the next page if one follows.
func (pg livePage) of(items []listItem) ([]listItem, string) {
	if pg.after != nil {
		i := sort.Search(len(items), func(i int) bool { return compareItems(items[i], *pg.after) > 0 })
		items = items[i:]
	}
	if pg.limit == 0 || len(items) <= pg.limit {
		return items, ""
	}
	items = items[:pg.limit]
	last := items[pg.limit-1]
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(last.c.ID)), uint64(last.sec*1e9+int64(last.nsec)))
	return items, base64.RawURLEncoding.EncodeToString(append(b, last.c.ID...))
}

// writeBody answers 200 with body, JSON encoded by hand: the headers
// writeJSON sets, and the length, so that a body of megabytes is not
// framed in chunks.
func writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// compareItems orders a list by start time, then id. Not cmp.Or: it
// evaluates every argument, and the ids' comparison was a tenth of a
// large list's time although the times almost always decide.
func compareItems(a, b listItem) int {
	switch {
	case a.sec != b.sec:
		return cmp.Compare(a.sec, b.sec)
	case a.nsec != b.nsec:
		return cmp.Compare(a.nsec, b.nsec)
	}
	return strings.Compare(a.c.ID, b.c.ID)
}

// listItem is one call of a GET /calls answer: the snapshot, its start
// time as sort keys, and its help-requested flag.
type listItem struct {
	c    *b2bua.CallSnapshot
	sec  int64
	nsec int
	help bool
}

// listBuf holds the working memory of one GET /calls, reused across
// requests: with thousands of live calls, allocating it per request was
// most of the handler's time (in the collector).
type listBuf struct {
	all   []*b2bua.CallSnapshot
	items []listItem
	body  []byte
}

// callAppender is a Switchboard that lists the live calls as pointers to
// their published snapshots, into a caller's slice, instead of copying
// them into one allocated per read (b2bua.Server does). A published
// snapshot is never changed, so the same pointer twice is the same state.
type callAppender interface {
	AppendCalls(dst []*b2bua.CallSnapshot) []*b2bua.CallSnapshot
}

// appendCalls appends sw's live calls to dst. The snapshots may be
// shared with sw: read them, never change them.
func appendCalls(sw Switchboard, dst []*b2bua.CallSnapshot) []*b2bua.CallSnapshot {
	if a, ok := sw.(callAppender); ok {
		return a.AppendCalls(dst)
	}
	calls := sw.Calls()
	for i := range calls {
		dst = append(dst, &calls[i])
	}
	return dst
}

// maxKeptListBody bounds the answer buffer a pooled listBuf keeps, so
// that one huge answer does not pin its memory for good.
const maxKeptListBody = 16 << 20

func (s *Service) releaseListBuf(lb *listBuf) {
	// Drop the references the snapshots hold (agent lists) so the pool
	// does not keep them alive.
	clear(lb.all)
	clear(lb.items)
	lb.all, lb.items = lb.all[:0], lb.items[:0]
	if cap(lb.body) > maxKeptListBody {
		lb.body = nil
	}
	s.listBufs.Put(lb)
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
