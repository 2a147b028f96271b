package control

import (
	"slices"
	"strconv"
	"strings"
)

// GET /stats of a tenant with hundreds of groups is encoded by hand like
// the call list (calls_json.go): through encoding/json, each group's SLA
// map (built, then its keys sorted by reflection) was a third of the
// request and most of its garbage. The bytes are those json.Encoder
// writes for the StatsView that view builds (TestStatsJSONMatchesEncoder);
// a field added to StatsView must be added here too.

// slaKey is an SLA window's name and its index in slaWindows.
type slaKey struct {
	name string
	w    int
}

// slaKeys are the SLA windows in the order encoding/json writes the SLA
// map's keys: sorted as strings ("15m" < "30m" < "5m" < "60m").
var slaKeys = func() []slaKey {
	var keys []slaKey
	for w, win := range slaWindows() {
		keys = append(keys, slaKey{win.name, w})
	}
	slices.SortFunc(keys, func(a, b slaKey) int { return strings.Compare(a.name, b.name) })
	return keys
}()

// appendJSON appends the answer of GET /stats for t (followed by the
// newline json.Encoder writes). ok is false when a value cannot be
// encoded (a non-finite float); the caller then uses encoding/json.
func (t *statsTally) appendJSON(b []byte) (_ []byte, ok bool) {
	if b, ok = t.appendSlot(b, 0); !ok {
		return b, false
	}
	if t.group == "" && len(t.groups) > 0 {
		b = append(b, `,"groups":[`...)
		for i := range t.groups {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = t.appendSlot(b, 1+i); !ok {
				return b, false
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...), true
}

// appendSlot appends slot k's object up to, not including, its closing
// brace (the tenant's may go on with its groups).
func (t *statsTally) appendSlot(b []byte, k int) (_ []byte, ok bool) {
	sl := &t.slots[k]
	b = append(b, `{"tenant":`...)
	b = appendJSONString(b, t.tenant)
	if g := t.slotGroup(k); g != "" {
		b = append(b, `,"group":`...)
		b = appendJSONString(b, g)
	}
	b = append(b, `,"online":`...)
	b = strconv.AppendInt(b, int64(sl.online), 10)
	b = append(b, `,"waiting":`...)
	b = strconv.AppendInt(b, int64(sl.waiting), 10)
	b = append(b, `,"queued":`...)
	b = strconv.AppendInt(b, int64(sl.queued), 10)
	b = append(b, `,"longest_waiting_seconds":`...)
	if b, ok = appendJSONFloat(b, sl.longest); !ok {
		return b, false
	}
	b = append(b, `,"last_hour":{"answered":`...)
	b = strconv.AppendInt(b, int64(sl.answered), 10)
	b = append(b, `,"missed":`...)
	b = strconv.AppendInt(b, int64(sl.missed), 10)
	b = append(b, `,"average_wait_seconds":`...)
	if b, ok = appendJSONFloat(b, sl.averageWait()); !ok {
		return b, false
	}
	b = append(b, `},"sla":{`...)
	for i, key := range slaKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, key.name)
		b = append(b, ':')
		pct, has := sl.sla(key.w)
		if !has {
			b = append(b, "null"...)
			continue
		}
		if b, ok = appendJSONFloat(b, pct); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}
