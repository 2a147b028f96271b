package control

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// historyWindow is how far back the statistics look; loadSlack covers
// calls that started before the window but were answered or missed in it.
const (
	historyWindow = time.Hour
	loadSlack     = time.Hour
)

// outcome is how one queued call went: answered after wait, or missed
// (given up or not answered) after wait. Only calls offered to a group
// count: they are the calls the statistics and SLA are about.
type outcome struct {
	at       time.Time
	tenant   string
	group    string
	answered bool
	wait     time.Duration
}

// history keeps the last hour's outcomes in memory, in time order. It is
// fed by the worker after each commit and read by the stats handler.
type history struct {
	dir *directory

	mu       sync.Mutex // guards outcomes
	outcomes []outcome
}

func newHistory(dir *directory) *history { return &history{dir: dir} }

// outcomeOf returns a call's outcome when its event decides one.
func outcomeOf(c *b2bua.CallSnapshot) (outcome, bool) {
	if c.Group == "" || c.Direction == b2bua.Outbound {
		return outcome{}, false
	}
	o := outcome{tenant: c.Tenant, group: c.Group}
	switch {
	case !c.AnsweredAt.IsZero():
		o.at, o.answered, o.wait = c.AnsweredAt, true, c.AnsweredAt.Sub(c.StartedAt)
	case c.State == b2bua.StateEnded:
		o.at, o.wait = c.EndedAt, c.EndedAt.Sub(c.StartedAt)
	default:
		return outcome{}, false
	}
	return o, true
}

// add records the outcome an answered or ended call decides. An ended call
// that was answered adds nothing: its answer already counted.
func (h *history) add(ev *b2bua.CallEvent) {
	c := &ev.Call
	if ev.Type == b2bua.CallEnded && !c.AnsweredAt.IsZero() {
		return
	}
	if ev.Type != b2bua.CallAnswered && ev.Type != b2bua.CallEnded {
		return
	}
	if o, ok := outcomeOf(c); ok {
		h.insert(o, ev.Time)
	}
}

func (h *history) insert(o outcome, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, _ := slices.BinarySearchFunc(h.outcomes, o.at, compareAt)
	h.outcomes = slices.Insert(h.outcomes, i, o)
	// Drop what has left the window so memory follows the call rate, but
	// only once it is a quarter of the slice: dropping it at every insert
	// moved the whole hour each time (readers skip it by binary search).
	j, _ := slices.BinarySearchFunc(h.outcomes, now.Add(-historyWindow), compareAt)
	if j > 0 && 4*j >= len(h.outcomes) {
		h.outcomes = slices.Delete(h.outcomes, 0, j)
	}
}

func compareAt(e outcome, t time.Time) int { return e.at.Compare(t) }

// load fills the window from the calls persisted by earlier runs.
func (h *history) load(db *bolt.DB, now time.Time) error {
	from := timeKey(now.Add(-historyWindow-loadSlack), nil)
	return db.View(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketCalls)
		return top.ForEachBucket(func(name []byte) error {
			c := top.Bucket(name).Cursor()
			for k, v := c.Seek(from); k != nil; k, v = c.Next() {
				var cs b2bua.CallSnapshot
				if err := json.Unmarshal(v, &cs); err != nil {
					return err
				}
				if o, ok := outcomeOf(&cs); ok {
					h.insert(o, now)
				}
			}
			return nil
		})
	})
}

// tally adds the outcomes of the last hour to t.
func (h *history) tally(t *statsTally) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, _ := slices.BinarySearchFunc(h.outcomes, t.now.Add(-historyWindow), compareAt)
	t.addOutcomes(h.outcomes[i:])
}

// putCall persists a call's snapshot under its start time; the answer and
// the end of a call overwrite the same key.
func putCall(tx *bolt.Tx, c *b2bua.CallSnapshot) error {
	b, err := tenantBucket(tx, bucketCalls, c.Tenant, true)
	if err != nil {
		return err
	}
	b.FillPercent = callsFill
	// The hand encoder of the call list (calls_json.go) writes the bytes
	// encoding/json does for a snapshot, without its reflection: a call
	// is stored twice (answered, ended), at up to thousands per second.
	// The key (timeKey's layout) and the value share one allocation;
	// bbolt keeps both until the commit.
	buf := make([]byte, 8, 8+len(c.ID)+512)
	binary.BigEndian.PutUint64(buf, uint64(c.StartedAt.UnixMilli()))
	buf = append(buf, c.ID...)
	key := buf[:len(buf):len(buf)]
	raw, ok := appendCallFields(buf[len(buf):], c)
	if !ok {
		return putJSON(b, key, c)
	}
	return b.Put(key, append(raw, '}'))
}
