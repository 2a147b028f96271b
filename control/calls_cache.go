package control

import (
	"slices"
	"sync"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// callJSONCache keeps, per live call, the encoded snapshot part of its
// call-list entry, so that a GET /calls encodes only the calls that
// changed since the last list that showed them (most of a large list is
// the same calls again). An entry is reused only while the call's
// snapshot is equal, field by field, to the one it was encoded from, so
// the answer is byte for byte what encoding afresh gives; the switchboard
// stays the only source of truth. The zero value is ready to use.
type callJSONCache struct {
	mu  sync.Mutex // guards all below
	m   map[string]*encodedCall
	gen uint64 // lists served; an entry remembers the last that used it
	tmp []byte // scratch for an entry being encoded
	// last holds the entries of the last list served, in its order, and
	// next the list being built. A list is mostly the last one's calls
	// in the same order (both sorted by start time, then id), so walking
	// last beside it finds most entries without hashing an id: at 5,000
	// calls the map's lookups were a quarter of a list's time.
	last, next []*encodedCall
}

type encodedCall struct {
	item listItem // item.c: the snapshot json was encoded from
	json []byte
	used uint64
}

// cacheSlack is how many entries the cache keeps beyond twice the live
// table's size before it sweeps.
const cacheSlack = 1024

// appendList appends the JSON of a CallList of items at now, with next as
// its next_cursor (followed by the newline json.Encoder writes); live is
// the size of the whole live table, which bounds the cache. ok is false
// when a call cannot be encoded; the caller then falls back to
// encoding/json. next is a cursor parseLivePage made: base64url, nothing
// to escape.
func (cc *callJSONCache) appendList(b []byte, items []listItem, next string, live int, now time.Time) (_ []byte, ok bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = map[string]*encodedCall{}
	}
	cc.gen++
	b = append(b, `{"calls":[`...)
	served, j := cc.next[:0], 0
	defer func() {
		// Only a whole list may guide the next; entries are not kept
		// alive by a list the cache no longer serves.
		if ok {
			cc.last, served = served, cc.last
		}
		clear(served)
		cc.next = served[:0]
	}()
	for i := range items {
		it := &items[i]
		if i > 0 {
			b = append(b, ',')
		}
		// Skip the last list's calls that sort before this one: ended,
		// or not shown to this principal.
		for j < len(cc.last) && compareItems(cc.last[j].item, *it) < 0 {
			j++
		}
		var e *encodedCall
		if j < len(cc.last) && cc.last[j].item.c.ID == it.c.ID {
			e = cc.last[j]
			j++
		} else {
			e = cc.m[it.c.ID]
		}
		// The same published snapshot is the same state without a look
		// at its fields; another one may still be equal (a switchboard
		// without AppendCalls copies its snapshots for every read).
		if e == nil || (e.item.c != it.c && !sameSnapshot(e.item.c, it.c)) {
			if cc.tmp, ok = appendCallFields(cc.tmp[:0], it.c); !ok {
				return b, false
			}
			if e == nil {
				e = &encodedCall{}
				cc.m[it.c.ID] = e
			}
			e.json = append(e.json[:0], cc.tmp...)
		}
		e.item = listItem{c: it.c, sec: it.sec, nsec: it.nsec}
		e.used = cc.gen
		served = append(served, e)
		b = append(b, e.json...)
		end := now
		if !it.c.EndedAt.IsZero() {
			end = it.c.EndedAt
		}
		if b, ok = appendViewFields(b, durationSeconds(end.Sub(it.c.StartedAt)), it.help); !ok {
			return b, false
		}
	}
	cc.sweep(live)
	if next != "" {
		b = append(b, `],"next_cursor":"`...)
		b = append(b, next...)
		return append(b, "\"}\n"...), true
	}
	return append(b, "]}\n"...), true
}

// sweep drops the entries the list just served did not use once the
// cache holds far more calls than are live: mostly calls that ended (an
// other tenant's live call dropped with them is encoded again by its
// next list).
func (cc *callJSONCache) sweep(live int) {
	if len(cc.m) <= 2*live+cacheSlack {
		return
	}
	for id, e := range cc.m {
		if e.used != cc.gen {
			delete(cc.m, id)
		}
	}
}

// sameSnapshot reports whether a and b encode alike: every field equal
// (times by their representation, not only their instant).
func sameSnapshot(a, b *b2bua.CallSnapshot) bool {
	return a.ID == b.ID && a.Tenant == b.Tenant && a.Direction == b.Direction && a.Group == b.Group &&
		a.Number == b.Number && a.Label == b.Label && a.Caller == b.Caller && a.Callee == b.Callee &&
		sameStrings(a.Agents, b.Agents) && a.State == b.State && a.StartedAt == b.StartedAt &&
		a.QueuedAt == b.QueuedAt && a.AnsweredAt == b.AnsweredAt && a.EndedAt == b.EndedAt &&
		a.EndReason == b.EndReason && a.SessionID == b.SessionID && a.CallerCallID == b.CallerCallID &&
		a.CalleeCallID == b.CalleeCallID
}

// sameStrings reports whether a and b hold the same strings. One backing
// array seen twice is equal without being read: the switchboard replaces
// a published slice, never edits it (b2bua.CallSnapshot). Reading every
// call's agents to compare them with themselves was a sixth of a
// 4,500-call list, in cache misses.
func sameStrings(a, b []string) bool {
	if len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) {
		return true
	}
	return slices.Equal(a, b)
}
