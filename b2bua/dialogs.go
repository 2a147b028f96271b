package b2bua

import (
	"hash/maphash"
	"sync"
)

// The dialog table finds a leg from an in-dialog request's Call-ID and
// the tag earshot chose. Every ACK, BYE, re-INVITE and in-dialog request
// looks it up, so it has locks of its own, split into shards by key: under
// a load past the machine's rate, lookups queued by the thousand on the
// server's lock behind calls being filed and forgotten, and each waiter
// that the lock handed over to had first to wait for a CPU.
//
// Per call, the keys filed for it are kept in Call.dialogKeys, which only
// the call's loop touches (newCall files the caller's leg before the loop
// starts), so ending a call drops its legs without scanning every dialog.

// dialogShards is a power of two; 64 shards keep two lookups on the same
// lock rare at the few thousand calls/s a machine carries.
const dialogShards = 64

type dialogTable struct {
	seed   maphash.Seed
	shards [dialogShards]dialogShard
}

type dialogShard struct {
	mu   sync.Mutex
	legs map[string]*leg
	_    [48]byte // 64 bytes a shard: neighbours' locks share no cache line
}

func newDialogTable() *dialogTable {
	t := &dialogTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].legs = map[string]*leg{}
	}
	return t
}

func (t *dialogTable) shard(k string) *dialogShard {
	return &t.shards[maphash.String(t.seed, k)&(dialogShards-1)]
}

// find returns the leg filed under k (Call-ID | earshot's tag), or nil.
func (t *dialogTable) find(k string) *leg {
	sh := t.shard(k)
	sh.mu.Lock()
	l := sh.legs[k]
	sh.mu.Unlock()
	return l
}

// add files l under its dialog key, in place of any leg there, and notes
// the key on l's call. It runs on the call's loop.
func (t *dialogTable) add(l *leg) {
	k := l.d.key()
	sh := t.shard(k)
	sh.mu.Lock()
	sh.legs[k] = l
	sh.mu.Unlock()
	l.call.dialogKeys = append(l.call.dialogKeys, k)
}

// drop takes l out of the table (a failed fork, a replaced callee, a
// transfer that did not happen), unless another leg took its key meanwhile.
func (t *dialogTable) drop(l *leg) {
	k := l.d.key()
	sh := t.shard(k)
	sh.mu.Lock()
	if sh.legs[k] == l {
		delete(sh.legs, k)
	}
	sh.mu.Unlock()
}

// forgetCall drops every leg filed for c; legs already dropped on their
// own, or whose key another call's leg took since, are left. It runs on
// c's loop.
func (t *dialogTable) forgetCall(c *Call) {
	for _, k := range c.dialogKeys {
		sh := t.shard(k)
		sh.mu.Lock()
		if l := sh.legs[k]; l != nil && l.call == c {
			delete(sh.legs, k)
		}
		sh.mu.Unlock()
	}
	c.dialogKeys = nil
}

// len counts the filed legs (the statistics' dialog count).
func (t *dialogTable) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.legs)
		sh.mu.Unlock()
	}
	return n
}

// each calls fn for every filed leg, a shard's lock held at a time: fn
// must not use the table.
func (t *dialogTable) each(fn func(*leg)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, l := range sh.legs {
			fn(l)
		}
		sh.mu.Unlock()
	}
}
