package b2bua

import (
	"sync"
	"time"
)

// lingering is a map whose entries stay for one fixed time after they
// were last put: what a finished SIP transaction must remember for its
// linger (answered.go, reack.go). With one linger for all, entries expire
// in the order they were put, so a queue in that order is all the
// bookkeeping: each put forgets the entries whose time is up. Safe for
// concurrent use.
type lingering[V any] struct {
	linger time.Duration
	now    func() time.Time
	base   time.Time // expiry times are nanoseconds since base
	max    int       // entries kept at most: a put past it is dropped

	mu    sync.Mutex // guards the fields below
	byKey map[string]lingered[V]
	order []expiry // in the order they expire
	head  int      // order[:head] are done
}

type lingered[V any] struct {
	v       V
	expires int64
}

// expiry is an entry of lingering.order.
type expiry struct {
	key     string
	expires int64
}

func newLingering[V any](linger time.Duration, now func() time.Time, max int) *lingering[V] {
	return &lingering[V]{linger: linger, now: now, base: now(), max: max, byKey: map[string]lingered[V]{}}
}

// put keeps v under key for the linger from now, replacing what key held.
func (l *lingering[V]) put(key string, v V) {
	now := int64(l.now().Sub(l.base))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	if _, ok := l.byKey[key]; !ok && len(l.byKey) >= l.max {
		return
	}
	exp := now + int64(l.linger)
	l.byKey[key] = lingered[V]{v, exp}
	l.order = append(l.order, expiry{key, exp})
}

// get returns what key holds, unless its linger is over. Looking up by
// bytes does not allocate.
func (l *lingering[V]) get(key []byte) (V, bool) {
	now := int64(l.now().Sub(l.base))
	l.mu.Lock()
	e, ok := l.byKey[string(key)]
	l.mu.Unlock()
	if !ok || e.expires <= now {
		var zero V
		return zero, false
	}
	return e.v, true
}

// expire forgets the entries whose linger ended by now. Caller holds l.mu.
func (l *lingering[V]) expire(now int64) {
	for l.head < len(l.order) && l.order[l.head].expires <= now {
		x := l.order[l.head]
		// A key put again has a later expiry further on: this
		// one is not its last.
		if e, ok := l.byKey[x.key]; ok && e.expires == x.expires {
			delete(l.byKey, x.key)
		}
		l.order[l.head] = expiry{}
		l.head++
	}
	if l.head >= 1024 && l.head*2 >= len(l.order) {
		n := copy(l.order, l.order[l.head:])
		clear(l.order[n:])
		l.order, l.head = l.order[:n], 0
	}
}

// len is the number of entries kept, expired ones included until the
// next put.
func (l *lingering[V]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}
