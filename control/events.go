package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Event types on the stream.
const (
	EventHelpAssigned = "help_request.assigned" // to assignees, admins and the agent
	EventHelpAccepted = "help_request.accepted"
	EventHelpClosed   = "help_request.closed"
	EventHelpCanceled = "help_request.canceled"
	EventNote         = "note.created"
	// Call and supervision events keep b2bua's names (call.started,
	// supervision.mode_changed, ...) and go to supervisors and admins only.
)

// Event is one message of the event stream.
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Data any       `json:"data"`
}

// audience says who may receive an event: nobody outside tenant; its
// admins always; its supervisors when supervisors is set; and the users
// listed. Agents are only ever listed for their own help requests and
// notes, which is how monitoring stays invisible to them.
type audience struct {
	tenant      string
	supervisors bool
	users       []string
}

func (a *audience) admits(p Principal) bool {
	switch {
	case p.Tenant != a.tenant:
		return false
	case p.Role == RoleAdmin:
		return true
	case p.Role == RoleSupervisor && a.supervisors:
		return true
	}
	return slices.Contains(a.users, p.User)
}

type subscriber struct {
	p  Principal
	ch chan []byte // encoded frames; closed when the hub drops it
}

// hub fans events out to the open streams. publish never blocks: a
// subscriber whose buffer is full is dropped (its stream ends and the
// client reconnects) rather than slowing everyone else.
type hub struct {
	buf     int
	dropped atomic.Uint64

	mu     sync.Mutex // guards subs and closed
	subs   map[*subscriber]struct{}
	closed bool
}

func newHub(buf int) *hub { return &hub{buf: buf, subs: map[*subscriber]struct{}{}} }

func (h *hub) subscribe(p Principal) (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	sub := &subscriber{p: p, ch: make(chan []byte, h.buf)}
	h.subs[sub] = struct{}{}
	return sub, true
}

func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[sub]; ok {
		delete(h.subs, sub)
		close(sub.ch)
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// publish encodes ev once and queues it to every admitted subscriber.
// The frame carries no id: each stream numbers its own events (see
// streamEvents), so that ids tell a subscriber nothing about events it
// was not shown — another tenant's traffic, monitoring it may not see.
func (h *hub) publish(a audience, ev Event) {
	var frame []byte
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if !a.admits(sub.p) {
			continue
		}
		// Encoded for the first subscriber that wants it: with nobody
		// listening, as under load, an event costs no JSON at all.
		if frame == nil {
			data, err := json.Marshal(ev)
			if err != nil {
				return // our own types always encode
			}
			frame = fmt.Appendf(nil, "event: %s\ndata: %s\n\n", ev.Type, data)
		}
		select {
		case sub.ch <- frame:
		default:
			delete(h.subs, sub)
			close(sub.ch)
			h.dropped.Add(1)
		}
	}
}

// close ends every stream and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		delete(h.subs, sub)
		close(sub.ch)
	}
}

// streamEvents serves GET /events: Server-Sent Events filtered for the
// caller, with a comment line every sseKeepAlive while idle.
func (s *Service) streamEvents(w http.ResponseWriter, r *http.Request, p Principal) error {
	sub, ok := s.hub.subscribe(p)
	if !ok {
		return errStatus(http.StatusServiceUnavailable, "shutting down")
	}
	defer s.hub.unsubscribe(sub)
	rc := http.NewResponseController(w)
	// The server's write timeout is for ordinary responses; a stream
	// lives until the client or Close ends it.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return nil
	}
	if rc.Flush() != nil {
		return nil
	}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	var id uint64 // this stream's own event numbers: 1, 2, 3, …
	var idLine []byte
	ended := sessionDone(r.Context()) // nil (never ready) for a token
	for {
		var frame []byte
		select {
		case <-r.Context().Done():
			return nil
		case <-ended:
			return nil // signed out or expired: the stream ends with it
		case f, open := <-sub.ch:
			if !open {
				return nil
			}
			frame = f
			id++
			idLine = fmt.Appendf(idLine[:0], "id: %d\n", id)
			if _, err := w.Write(idLine); err != nil {
				return nil
			}
		case <-keep.C:
			frame = []byte(": keep-alive\n\n")
		}
		if _, err := w.Write(frame); err != nil {
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}
