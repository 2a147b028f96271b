package app

import (
	"sync"

	"github.com/earshot/earshot/b2bua"
)

// Fanout is a b2bua.Observer that passes every event to its subscribers in
// the order they were added. Subscribers must not block (the b2bua calls
// from its call goroutines).
type Fanout struct {
	mu   sync.RWMutex
	subs []b2bua.Observer
}

// Add subscribes o to every event from now on.
func (f *Fanout) Add(o b2bua.Observer) {
	f.mu.Lock()
	f.subs = append(f.subs, o)
	f.mu.Unlock()
}

// CallEvent implements b2bua.Observer.
func (f *Fanout) CallEvent(ev b2bua.CallEvent) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, o := range f.subs {
		o.CallEvent(ev)
	}
}

// SupervisionEvent implements b2bua.Observer.
func (f *Fanout) SupervisionEvent(ev b2bua.SupervisionEvent) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, o := range f.subs {
		o.SupervisionEvent(ev)
	}
}
