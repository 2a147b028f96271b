package b2bua

import (
	"maps"
	"strconv"
	"sync"
	"time"
)

// SetupBuckets are the upper bounds (seconds) of the call setup time
// histogram: INVITE received to 200 OK sent.
var SetupBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}

// Stats is a snapshot of the SIP side for metrics, read at scrape time.
type Stats struct {
	ActiveCalls   int
	Registrations int
	// Dialogs is the number of live dialogs (call, agent and supervisor
	// legs) in the table in-dialog requests are matched against.
	Dialogs int
	// CallsByOutcome counts ended calls by end reason.
	CallsByOutcome map[string]uint64
	// Requests counts received requests by method; Responses counts sent
	// responses by status code.
	Requests  map[string]uint64
	Responses map[string]uint64
	// Sent counts requests earshot originated, by method.
	Sent map[string]uint64
	// Setup is the call setup time histogram: cumulative-free counts per
	// SetupBuckets bound (plus +Inf last), the sum and count.
	SetupCounts []uint64
	SetupSum    float64
	SetupCount  uint64
	// SupervisionsActive counts attached supervisions by current mode;
	// SupervisionsStarted counts starts by initial mode; SupervisionsRefused
	// counts refused joins and switches by the mode asked for.
	SupervisionsActive  map[Mode]int
	SupervisionsStarted map[Mode]uint64
	SupervisionsRefused map[Mode]uint64
	// ModeSwitches counts mode changes by the new mode.
	ModeSwitches map[Mode]uint64
	// Dropped counts messages the SIP stack dropped because it could not
	// parse them, or responses it could not match, by kind (DropReasons).
	Dropped map[string]uint64
	// Retransmissions counts retransmitted requests earshot handled after
	// the SIP stack's transaction had ended (answered.go): RetransAnswered
	// (the final response sent again), RetransAbsorbed (an INVITE answered
	// 2xx, dropped), RetransACKed (the ACK of a 503 sent without a
	// transaction while behind, dropped; overload.go).
	Retransmissions map[string]uint64
	// LoadRefused counts new calls answered 503 for load, by reason:
	// LoadMaxCalls (sip.max_calls reached), LoadBehind (the SIP input
	// behind, overload.go), LoadDraining (shutting down).
	LoadRefused map[string]uint64
	// InputWait is the least time a SIP datagram waited in its socket
	// over the last window the overload watch closed, and Behind whether
	// that was past its bound (new calls refused). Zero and false with
	// the watch off.
	InputWait time.Duration
	Behind    bool
	// MailboxFull counts events a call's full mailbox turned away: an
	// in-dialog request answered 503, or a timer event retried.
	MailboxFull uint64
	// Refused counts requests refused for security reasons, by reason
	// (see Refusal): each one is also logged in one line (security.go).
	Refused map[string]uint64
	// NotifySent and NotifyFailed count the MESSAGE notifications to
	// users' phones (Notify), one per registered contact: answered 2xx,
	// or refused, timed out or not sent.
	NotifySent, NotifyFailed uint64
}

// sipStats counts signalling events. Signalling is not the per-packet
// path; a short mutex keeps the maps simple.
type sipStats struct {
	mu        sync.Mutex // guards all fields
	outcomes  map[string]uint64
	requests  map[string]uint64
	responses map[string]uint64
	sentReqs  map[string]uint64
	setup     []uint64
	setupSum  float64
	setupN    uint64
	supStart  map[Mode]uint64
	supRefuse map[Mode]uint64
	supSwitch map[Mode]uint64
	refused   map[string]uint64
	dropped   map[string]uint64
	retrans   map[string]uint64
	loadRef   map[string]uint64
	fullBox   uint64
}

func newSIPStats() *sipStats {
	return &sipStats{
		outcomes:  map[string]uint64{},
		requests:  map[string]uint64{},
		responses: map[string]uint64{},
		sentReqs:  map[string]uint64{},
		setup:     make([]uint64, len(SetupBuckets)+1),
		supStart:  map[Mode]uint64{},
		supRefuse: map[Mode]uint64{},
		supSwitch: map[Mode]uint64{},
		refused:   map[string]uint64{},
		dropped:   map[string]uint64{},
		retrans:   map[string]uint64{},
		loadRef:   map[string]uint64{},
	}
}

// knownMethods bounds the method label: anything else counts as "other".
var knownMethods = map[string]bool{"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true,
	"REGISTER": true, "OPTIONS": true, "UPDATE": true, "INFO": true, "PRACK": true, "REFER": true, "NOTIFY": true}

func (st *sipStats) request(method string) {
	if !knownMethods[method] {
		method = "other"
	}
	st.mu.Lock()
	st.requests[method]++
	st.mu.Unlock()
}

// sent counts a request earshot originated.
func (st *sipStats) sent(method string) {
	if !knownMethods[method] {
		method = "other"
	}
	st.mu.Lock()
	st.sentReqs[method]++
	st.mu.Unlock()
}

func (st *sipStats) response(code int) {
	st.mu.Lock()
	st.responses[strconv.Itoa(code)]++
	st.mu.Unlock()
}

func (st *sipStats) refuse(reason Refusal) {
	st.mu.Lock()
	st.refused[string(reason)]++
	st.mu.Unlock()
}

func (st *sipStats) drop(reason string) {
	st.mu.Lock()
	st.dropped[reason]++
	st.mu.Unlock()
}

// retransmission counts a retransmitted request answered.answer handled.
func (st *sipStats) retransmission(kind string) {
	st.mu.Lock()
	st.retrans[kind]++
	st.mu.Unlock()
}

// Reasons a new call is refused for load (Stats.LoadRefused).
const (
	LoadMaxCalls = "max_calls"
	LoadBehind   = "behind"
	LoadDraining = "draining"
	// LoadMedia: the media engine could not give the call its ports
	// (the port range, or the process's file descriptors, used up).
	LoadMedia = "media"
)

func (st *sipStats) loadRefuse(reason string) {
	st.mu.Lock()
	st.loadRef[reason]++
	st.mu.Unlock()
}

func (st *sipStats) mailboxFull() {
	st.mu.Lock()
	st.fullBox++
	st.mu.Unlock()
}

func (st *sipStats) ended(reason string) {
	st.mu.Lock()
	st.outcomes[reason]++
	st.mu.Unlock()
}

func (st *sipStats) supervision(ev SupervisionEvent) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch ev.Type {
	case SupervisionStarted:
		st.supStart[ev.Supervision.Mode]++
	case SupervisionModeChanged:
		st.supSwitch[ev.Supervision.Mode]++
	case SupervisionRefused:
		st.supRefuse[ev.Requested]++
	}
}

func (st *sipStats) answered(d time.Duration) {
	sec := d.Seconds()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.setupSum += sec
	st.setupN++
	for i, b := range SetupBuckets {
		if sec <= b {
			st.setup[i]++
			return
		}
	}
	st.setup[len(SetupBuckets)]++
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := s.stats
	st.mu.Lock()
	out := Stats{
		CallsByOutcome: maps.Clone(st.outcomes),
		Requests:       maps.Clone(st.requests),
		Responses:      maps.Clone(st.responses),
		Sent:           maps.Clone(st.sentReqs),
		SetupCounts:    append([]uint64(nil), st.setup...),
		SetupSum:       st.setupSum,
		SetupCount:     st.setupN,

		SupervisionsStarted: maps.Clone(st.supStart),
		SupervisionsRefused: maps.Clone(st.supRefuse),
		ModeSwitches:        maps.Clone(st.supSwitch),
		Refused:             maps.Clone(st.refused),
		Dropped:             maps.Clone(st.dropped),
		Retransmissions:     maps.Clone(st.retrans),
		LoadRefused:         maps.Clone(st.loadRef),
		MailboxFull:         st.fullBox,
	}
	out.InputWait, out.Behind = s.guard.watch.lastWait(), s.guard.watch.shed()
	out.NotifySent, out.NotifyFailed = s.notify.sent.Load(), s.notify.failed.Load()
	st.mu.Unlock()
	out.SupervisionsActive = map[Mode]int{}
	s.mu.Lock()
	sups := make([]*supervision, 0, len(s.sups))
	for _, sup := range s.sups {
		sups = append(sups, sup)
	}
	s.mu.Unlock()
	for _, sup := range sups {
		if snap := sup.Snapshot(); snap.State == SupActive {
			out.SupervisionsActive[snap.Mode]++
		}
	}
	out.ActiveCalls, out.Dialogs = s.ActiveCalls(), s.dialogs.len()
	out.Registrations = s.reg.count()
	return out
}
