package control

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// AgentDesk is what the control plane drives for queues and agent states:
// the queue (b2bua/queue) satisfies it.
type AgentDesk interface {
	// Team lists every user of a tenant with role, registration and state.
	Team(tenant string) []b2bua.AgentStatus
	// Agent is one user's status.
	Agent(tenant, ext string) (b2bua.AgentStatus, bool)
	// SetAgentState changes a user's state (available, paused with a
	// reason, logged_out); actor is who asked.
	SetAgentState(tenant, ext string, state b2bua.AgentState, reason, actor string) error
	// Waiting lists the callers waiting in a tenant's queues ("" for every
	// group).
	Waiting(tenant, group string) []b2bua.QueuedCall
}

// Audit actions and event types of agents and queues.
const (
	ActionAgentState   = "agent.state_changed"
	ActionCallback     = "callback.requested"
	ActionCallPicked   = "call.picked"
	ActionCallMoved    = "call.moved"
	ActionCallTransfer = "call.transfer"
	EventAgentState    = "agent.state_changed"
	EventQueueJoined   = string(b2bua.QueueJoined)
	EventQueuePosition = string(b2bua.QueuePositionChanged)
	EventQueueLeft     = string(b2bua.QueueLeft)
)

// QueueEvent implements b2bua.Observer, like CallEvent, but a position
// change is shed (and counted) once the queue is three quarters full.
// When a caller leaves a line of n, the n callers behind move up, an
// event each. Past the machine's rate, with every agent busy and
// thousands waiting, those events filled the worker's queue and crowded
// out the ones history and audit need (a call's end, an agent's state).
// A position change feeds only the event stream, and a newer one, or the
// queue listing, replaces it: it gives way first, and the last quarter of
// the queue is left to the others.
func (s *Service) QueueEvent(ev b2bua.QueueEvent) {
	if ev.Type == b2bua.QueuePositionChanged && len(s.events) >= cap(s.events)-cap(s.events)/4 {
		s.metrics.positionsShed.Add(1)
		return
	}
	s.enqueue(observed{queue: &ev})
}

// AgentEvent implements b2bua.Observer, like CallEvent.
func (s *Service) AgentEvent(ev b2bua.AgentEvent) { s.enqueue(observed{agent: &ev}) }

// agentEventView is the stream's form of an agent state change.
type agentEventView struct {
	Agent b2bua.AgentStatus `json:"agent"`
	From  b2bua.AgentState  `json:"from"`
	Actor string            `json:"actor"`
}

// agentEventData is the event stream's payload of a queued agent event:
// a pointer to the event already on the heap fits in the stream event's
// interface without another allocation (a view by value took one per
// state change, four per call, whether anyone listened or not), and the
// view is built only when a stream encodes it.
type agentEventData b2bua.AgentEvent

func (d *agentEventData) MarshalJSON() ([]byte, error) {
	return json.Marshal(agentEventView{Agent: d.Agent, From: d.From, Actor: d.Actor})
}

// queueEventView is the stream's form of a queue event.
type queueEventView struct {
	Call        b2bua.QueuedCall `json:"call"`
	Reason      string           `json:"reason,omitempty"`
	WaitSeconds float64          `json:"wait_seconds,omitempty"`
	Target      string           `json:"target,omitempty"`
}

// recordAgent audits an agent's state change: who changed whose state,
// from what to what.
func (s *Service) recordAgent(tx *bolt.Tx, ev *b2bua.AgentEvent, out *effects) error {
	a := ev.Agent
	actor, role := ev.Actor, s.dir.role(a.Tenant, ev.Actor)
	if actor == "" {
		actor, role = systemActor, systemActor
	}
	detail := a.Extension + ": " + string(ev.From) + " -> " + string(a.State)
	if ev.Reason != "" {
		detail += " (" + ev.Reason + ")"
	}
	if err := appendAudit(tx, &AuditRecord{Time: ev.Time, Tenant: a.Tenant, Actor: actor, Role: role,
		Action: ActionAgentState, Result: ResultOK, Detail: detail}); err != nil {
		return err
	}
	out.audit++
	return nil
}

// Callback is a caller who left a queue asking to be called back.
type Callback struct {
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	CallID      string    `json:"call_id"`
	Group       string    `json:"group"`
	Number      string    `json:"number"` // the business number called
	Caller      string    `json:"caller"` // the number to call back
	CallerName  string    `json:"caller_name,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	WaitSeconds float64   `json:"wait_seconds"`
}

// recordCallback stores a callback request with its audit record.
func (s *Service) recordCallback(tx *bolt.Tx, ev *b2bua.QueueEvent, out *effects) error {
	c := ev.Call
	b, err := tenantBucket(tx, bucketCallbacks, c.Tenant, true)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	at := ev.Time.UTC().Truncate(time.Millisecond)
	k := timeKey(at, seqSuffix(seq))
	cb := Callback{ID: base64.RawURLEncoding.EncodeToString(k), Tenant: c.Tenant, CallID: c.CallID, Group: c.Group,
		Number: c.Number, Caller: c.Caller.Number, CallerName: c.Caller.Name, RequestedAt: at, WaitSeconds: ev.Wait.Seconds()}
	if err := putJSON(b, k, cb); err != nil {
		return err
	}
	if err := appendAudit(tx, &AuditRecord{Time: ev.Time, Tenant: c.Tenant, Actor: systemActor, Role: systemActor,
		Action: ActionCallback, CallID: c.CallID, Result: ResultOK, Detail: "caller " + c.Caller.Number + " group " + c.Group}); err != nil {
		return err
	}
	out.audit++
	return nil
}

// listCallbacks answers GET /callbacks: the tenant's callback requests,
// newest first, over ?from and ?to (the last 24 hours by default).
func (s *Service) listCallbacks(w http.ResponseWriter, r *http.Request, p Principal) error {
	now := s.now().UTC()
	from, to, err := timeRange(r, now.Add(-24*time.Hour), now)
	if err != nil {
		return err
	}
	out := []Callback{}
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := tenantBucket(tx, bucketCallbacks, p.Tenant, false)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek(timeKey(from, nil)); k != nil && keyTime(k).Before(to); k, v = c.Next() {
			var cb Callback
			if err := json.Unmarshal(v, &cb); err != nil {
				return err
			}
			out = append(out, cb)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	writeJSON(w, http.StatusOK, map[string]any{"callbacks": out})
	return nil
}

// desk returns the queue, or 404 when earshot runs without one.
func (s *Service) desk() (AgentDesk, error) {
	if s.agents == nil {
		return nil, errStatus(http.StatusNotFound, "no queue configured")
	}
	return s.agents, nil
}

// listTeam answers GET /team: every user of the tenant with role,
// registration and state. Agents see their team too (the workspace shows
// it to everyone).
func (s *Service) listTeam(w http.ResponseWriter, r *http.Request, p Principal) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"team": d.Team(p.Tenant)})
	return nil
}

// AgentStateRequest is the body of PUT /agents/{ext}/state.
type AgentStateRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// setAgentState answers PUT /agents/{ext}/state: an agent changes its own
// state; a supervisor that of the agents of its groups; an admin anyone's
// in the tenant.
func (s *Service) setAgentState(w http.ResponseWriter, r *http.Request, p Principal) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	ext := r.PathValue("ext")
	if _, ok := d.Agent(p.Tenant, ext); !ok {
		return errNotFound
	}
	switch {
	case ext == p.User, p.Role == RoleAdmin:
	case p.Role == RoleSupervisor && s.dir.supervises(p.Tenant, p.User, ext):
	default:
		return errForbidden
	}
	var req AgentStateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	st, err := b2bua.ParseAgentState(req.State)
	if err != nil {
		return errField("state", "%v", err)
	}
	if req.Reason != "" && st != b2bua.AgentPaused {
		return errField("reason", "only a paused agent has a reason")
	}
	if err := d.SetAgentState(p.Tenant, ext, st, req.Reason, p.User); err != nil {
		return errField("reason", "%v", err)
	}
	// The state change is audited by the event it publishes; the answer
	// waits until that record is committed.
	s.flush()
	a, _ := d.Agent(p.Tenant, ext)
	writeJSON(w, http.StatusOK, a)
	return nil
}

// listQueues answers GET /queues: the callers waiting in the tenant's
// queues (?group= for one), by group and position.
func (s *Service) listQueues(w http.ResponseWriter, r *http.Request, p Principal) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	group := r.URL.Query().Get("group")
	if group != "" && !s.dir.hasGroup(p.Tenant, group) {
		return errField("group", "no group %q in your tenant", group)
	}
	waiting := d.Waiting(p.Tenant, group)
	if waiting == nil {
		waiting = []b2bua.QueuedCall{} // an empty list, never null
	}
	writeJSON(w, http.StatusOK, map[string]any{"waiting": waiting})
	return nil
}

// pickCall answers POST /calls/{id}/pick: the supervisor takes a waiting
// call; earshot rings its phone and connects the caller when it answers.
// 202: the phone rings.
func (s *Service) pickCall(w http.ResponseWriter, r *http.Request, p Principal) error {
	c, err := s.lookupCall(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	cmdErr := s.sw.Pick(p.Tenant, p.User, c.ID)
	if err := s.auditQueueCommand(p, ActionCallPicked, c.ID, "", cmdErr); err != nil {
		return err
	}
	if cmdErr != nil {
		return cmdErr
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"call_id": c.ID, "picked_by": p.User})
	return nil
}

// MoveRequest is the body of POST /calls/{id}/move.
type MoveRequest struct {
	Group string `json:"group"`
}

// moveCall answers POST /calls/{id}/move: a waiting call goes to the end
// of another group's queue.
func (s *Service) moveCall(w http.ResponseWriter, r *http.Request, p Principal) error {
	c, err := s.lookupCall(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	var req MoveRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Group == "" {
		return errField("group", "required")
	}
	if !s.dir.hasGroup(p.Tenant, req.Group) {
		return errField("group", "no group %q in your tenant", req.Group)
	}
	cmdErr := s.sw.Move(p.Tenant, c.ID, req.Group)
	if err := s.auditQueueCommand(p, ActionCallMoved, c.ID, "to "+req.Group, cmdErr); err != nil {
		return err
	}
	if cmdErr != nil {
		return cmdErr
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": c.ID, "group": req.Group})
	return nil
}

// auditQueueCommand records a pick or move with its result, committed
// before the response.
func (s *Service) auditQueueCommand(p Principal, action, callID, detail string, cmdErr error) error {
	return s.auditAPI(AuditRecord{Tenant: p.Tenant, Actor: p.User, Role: string(p.Role), Action: action,
		CallID: callID, Detail: detail}, cmdErr)
}

// TransferRequest is the body of POST /calls/{id}/transfer.
type TransferRequest struct {
	To string `json:"to"`
}

// transferCall answers POST /calls/{id}/transfer: the customer of an
// answered call goes to a user, a business number (the group's next free
// agent) or an external number. 202 once the target rings.
func (s *Service) transferCall(w http.ResponseWriter, r *http.Request, p Principal) error {
	c, err := s.lookupCall(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	var req TransferRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.To == "" {
		return errField("to", "required")
	}
	cmdErr := s.sw.Transfer(p.Tenant, p.User, c.ID, req.To)
	if err := s.auditQueueCommand(p, ActionCallTransfer, c.ID, "to "+req.To, cmdErr); err != nil {
		return err
	}
	if cmdErr != nil {
		return cmdErr
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"call_id": c.ID, "to": req.To})
	return nil
}
