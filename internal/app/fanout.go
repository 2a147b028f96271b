package app

import (
	"sync"
	"sync/atomic"

	"github.com/earshot/earshot/b2bua"
)

// Fanout is a b2bua.Observer that passes every event to its subscribers in
// the order they were added. Subscribers must not block (the b2bua calls
// from its call goroutines). The list is copy-on-write: events read it
// without a lock, so a subscriber is never called under one (and may
// itself Add).
type Fanout struct {
	mu   sync.Mutex // serialises Add
	subs atomic.Pointer[[]b2bua.Observer]
}

// Add subscribes o to every event from now on.
func (f *Fanout) Add(o b2bua.Observer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next []b2bua.Observer
	if cur := f.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	f.subs.Store(&next)
}

func (f *Fanout) list() []b2bua.Observer {
	if cur := f.subs.Load(); cur != nil {
		return *cur
	}
	return nil
}

// CallEvent implements b2bua.Observer.
func (f *Fanout) CallEvent(ev b2bua.CallEvent) {
	for _, o := range f.list() {
		o.CallEvent(ev)
	}
}

// SupervisionEvent implements b2bua.Observer.
func (f *Fanout) SupervisionEvent(ev b2bua.SupervisionEvent) {
	for _, o := range f.list() {
		o.SupervisionEvent(ev)
	}
}

// QueueEvent implements b2bua.Observer.
func (f *Fanout) QueueEvent(ev b2bua.QueueEvent) {
	for _, o := range f.list() {
		o.QueueEvent(ev)
	}
}

// AgentEvent implements b2bua.Observer.
func (f *Fanout) AgentEvent(ev b2bua.AgentEvent) {
	for _, o := range f.list() {
		o.AgentEvent(ev)
	}
}
