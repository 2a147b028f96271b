package b2bua

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// contact is one registered binding of a user.
type contact struct {
	uri       sip.Uri
	source    string // host:port the REGISTER came from, used to reach the phone behind NAT
	transport string
	expires   time.Time
	callID    string
	cseq      uint32
}

// registrar keeps the bindings of registered users. Keys are only ever
// users that authenticated, so the table is bounded by the configuration.
type registrar struct {
	policy RegistrationPolicy
	now    func() time.Time

	mu       sync.Mutex            // guards bindings
	bindings map[string][]*contact // tenant + "/" + extension
}

func newRegistrar(p RegistrationPolicy, now func() time.Time) *registrar {
	return &registrar{policy: p, now: now, bindings: map[string][]*contact{}}
}

func userKey(tenant, ext string) string { return tenant + "/" + ext }

// contacts returns the live bindings of a user.
func (r *registrar) contacts(tenant, ext string) []contact {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := userKey(tenant, ext)
	live := r.purgeLocked(k)
	out := make([]contact, len(live))
	for i, c := range live {
		out[i] = *c
	}
	return out
}

// registered reports whether a user has a live binding. The queue asks it
// for every agent it considers for every routing decision, so unlike
// contacts it copies nothing and changes nothing: expired bindings are
// left for the next contacts, update or count to drop.
func (r *registrar) registered(tenant, ext string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, c := range r.bindings[userKey(tenant, ext)] {
		if c.expires.After(now) {
			return true
		}
	}
	return false
}

func (r *registrar) purgeLocked(k string) []*contact {
	now := r.now()
	cs := r.bindings[k]
	live := cs[:0]
	for _, c := range cs {
		if c.expires.After(now) {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		delete(r.bindings, k)
		return nil
	}
	r.bindings[k] = live
	return live
}

// count returns the number of live bindings, for metrics.
func (r *registrar) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k := range r.bindings {
		n += len(r.purgeLocked(k))
	}
	return n
}

// registerError carries the response a REGISTER must get.
type registerError struct {
	status  int
	reason  string
	headers []sip.Header
}

// update applies an authenticated REGISTER and returns the resulting
// bindings (RFC 3261 §10.3 steps 6-8).
func (r *registrar) update(tenant, ext string, req *sip.Request) ([]contact, *registerError) {
	defaultExp := r.policy.Default
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(h.Value())
		if err != nil || n < 0 {
			return nil, &registerError{status: 400, reason: "Bad Expires"}
		}
		defaultExp = time.Duration(n) * time.Second
	}
	callID := ""
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	var cseq uint32
	if c := req.CSeq(); c != nil {
		cseq = c.SeqNo
	}

	hs := req.GetHeaders("Contact")
	k := userKey(tenant, ext)
	r.mu.Lock()
	defer r.mu.Unlock()
	// Work on a copy: a REGISTER that fails half-way must change nothing
	// (RFC 3261 §10.3: all updates or none).
	cur := slices.Clone(r.purgeLocked(k))

	if len(hs) == 1 && hs[0].Value() == "*" {
		if defaultExp != 0 {
			return nil, &registerError{status: 400, reason: "Wildcard Contact Needs Expires 0"}
		}
		delete(r.bindings, k)
		return nil, nil
	}

	type change struct {
		uri sip.Uri
		exp time.Duration
	}
	var changes []change
	for _, h := range hs {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			var parsed sip.ContactHeader
			if _, err := sip.ParseAddressValue(h.Value(), &parsed.Address, &parsed.Params); err != nil {
				return nil, &registerError{status: 400, reason: "Bad Contact"}
			}
			ch = &parsed
		}
		exp := defaultExp
		if v, ok := ch.Params.Get("expires"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, &registerError{status: 400, reason: "Bad Contact Expires"}
			}
			exp = time.Duration(n) * time.Second
		}
		if exp > 0 && exp < r.policy.Min {
			return nil, &registerError{status: 423, reason: "Interval Too Brief",
				headers: []sip.Header{sip.NewHeader("Min-Expires", strconv.Itoa(int(r.policy.Min/time.Second)))}}
		}
		exp = min(exp, r.policy.Max)
		changes = append(changes, change{uri: *ch.Address.Clone(), exp: exp})
	}

	now := r.now()
	for _, chg := range changes {
		idx := -1
		for i, c := range cur {
			if sameContact(c.uri, chg.uri) {
				idx = i
			}
		}
		if idx >= 0 && cur[idx].callID == callID && cseq <= cur[idx].cseq {
			return nil, &registerError{status: 500, reason: "Out Of Order REGISTER"}
		}
		if chg.exp == 0 {
			if idx >= 0 {
				cur = append(cur[:idx], cur[idx+1:]...)
			}
			continue
		}
		c := &contact{uri: chg.uri, source: req.Source(), transport: req.Transport(),
			expires: now.Add(chg.exp), callID: callID, cseq: cseq}
		if idx >= 0 {
			cur[idx] = c
			continue
		}
		if len(cur) >= r.policy.MaxContacts {
			// The oldest binding makes room: a phone that rebooted must
			// not be locked out by its own stale registrations.
			cur = cur[1:]
		}
		cur = append(cur, c)
	}
	if len(cur) == 0 {
		delete(r.bindings, k)
		return nil, nil
	}
	r.bindings[k] = cur
	out := make([]contact, len(cur))
	for i, c := range cur {
		out[i] = *c
	}
	return out, nil
}

// dropSource removes every binding registered over a WebSocket flow from
// source, and returns how many there were.
func (r *registrar) dropSource(source string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, cs := range r.bindings {
		kept := cs[:0]
		for _, c := range cs {
			if c.source == source && isWebSocket(c.transport) {
				n++
				continue
			}
			kept = append(kept, c)
		}
		if len(kept) == 0 {
			delete(r.bindings, k)
		} else {
			r.bindings[k] = kept
		}
	}
	return n
}

func sameContact(a, b sip.Uri) bool {
	return a.User == b.User && a.Host == b.Host && a.Port == b.Port
}
