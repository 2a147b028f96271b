package control

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// Service is the control plane: the REST handler, the event stream, the
// store and the b2bua.Observer that feeds them. Create it with New, stop it
// with Close.
type Service struct {
	log       *slog.Logger
	now       func() time.Time
	db        *bolt.DB
	sw        Switchboard
	agents    AgentDesk
	phones    Notifier // nil: no phone notifications
	listen    string   // the listen feature code, for notifications
	auth      *authenticator
	dir       *directory
	retention retention
	batch     bool
	metrics   *metrics
	hub       *hub
	history   *history
	sups      *supTracker
	handler   http.Handler
	sessions  Sessions
	listBufs  sync.Pool // *listBuf: GET /calls working memory
	callJSON  callJSONCache

	mu sync.Mutex // guards active
	// active maps a call id to its open or in-progress help request: the
	// call list's help-requested flag and the one-per-call check read it.
	// It is updated after the transaction that changes the request commits;
	// the check that decides is always the one inside the transaction.
	active map[string]activeHelp

	events chan observed // b2bua callbacks → worker
	stop   chan struct{}
	// startPruned is closed once the pruner's pass at start is over:
	// tests that move the clock past a retention wait for it, or that
	// pass would prune at the moved clock, racing their own prune.
	startPruned chan struct{}
	wg          sync.WaitGroup // the worker and the pruner
	closeOnce   sync.Once
	closeErr    error
}

// retention is how long records are kept (see Config).
type retention struct {
	audit, calls time.Duration
}

type activeHelp struct {
	id     string
	status HelpStatus
}

// New opens the store under cfg.DataDir, closes help requests left active
// by a previous run (reason restart), loads the last hour's call history and
// starts the event worker and the retention pruner.
func New(cfg Config) (*Service, error) {
	if cfg.Tenants == nil || cfg.Switchboard == nil || cfg.DataDir == "" {
		return nil, errors.New("control: Tenants, DataDir and Switchboard are required")
	}
	s := &Service{
		log:       cfg.Logger,
		now:       cfg.Now,
		sw:        cfg.Switchboard,
		agents:    cfg.Agents,
		phones:    cfg.Phones,
		listen:    cfg.ListenCode,
		auth:      newAuthenticator(cfg.Tenants),
		dir:       newDirectory(cfg.Tenants),
		retention: retention{audit: cfg.AuditRetention, calls: cfg.CallRetention},
		batch:     cfg.BatchWrites,
		active:    map[string]activeHelp{},
		stop:      make(chan struct{}),
		sessions:  cfg.Sessions,
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.log = s.log.With("component", "control")
	if s.retention.audit <= 0 {
		s.retention.audit = DefaultAuditRetention
	}
	if s.retention.calls <= 0 {
		s.retention.calls = DefaultCallRetention
	}
	if s.now == nil {
		s.now = time.Now
	}
	queue, buf, timeout := cfg.EventQueue, cfg.SSEBuffer, cfg.OpenTimeout
	if queue <= 0 {
		queue = defaultEventQueue
	}
	if buf <= 0 {
		buf = 256
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	s.listBufs.New = func() any { return new(listBuf) }
	s.events = make(chan observed, queue)
	s.hub = newHub(buf)
	s.history = newHistory(s.dir)
	s.sups = newSupTracker()

	db, err := openDB(cfg.DataDir, timeout)
	if err != nil {
		return nil, err
	}
	s.db = db
	if err := s.recover(); err != nil {
		db.Close()
		return nil, fmt.Errorf("control: recovery: %w", err)
	}
	s.metrics = newMetrics(routes(s))
	s.handler = withCORS(cfg.CORSOrigins, s.newHandler())
	s.wg.Add(2)
	s.startPruned = make(chan struct{})
	go s.worker()
	go s.pruner()
	return s, nil
}

// Handler serves the API. Mount it at /api/v1/ (it matches full paths).
func (s *Service) Handler() http.Handler { return s.handler }

// Close stops the worker and the pruner (events still queued are recorded
// first), ends every event stream and closes the database. It is safe to
// call more than once.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.hub.close()
		s.wg.Wait()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// recover closes what a previous run left open: help requests whose calls
// died with the process. Their audit records say reason restart.
func (s *Service) recover() error {
	now := s.now().UTC()
	var closed []*HelpRequest
	err := s.db.Update(func(tx *bolt.Tx) error {
		closed = closed[:0]
		var left []*HelpRequest
		if err := eachActiveHelp(tx, func(h *HelpRequest) error {
			left = append(left, h)
			return nil
		}); err != nil {
			return err
		}
		for _, h := range left {
			h.end(HelpClosed, systemActor, CloseRestart, now)
			if err := putHelp(tx, h); err != nil {
				return err
			}
			if err := appendAudit(tx, &AuditRecord{Time: now, Tenant: h.Tenant, Actor: systemActor, Role: systemActor,
				Action: ActionHelpClosed, CallID: h.CallID, HelpRequestID: h.ID, Result: ResultOK, Detail: CloseRestart}); err != nil {
				return err
			}
			closed = append(closed, h)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(closed) > 0 {
		s.log.Info("closed help requests left active by the previous run", "count", len(closed))
	}
	return s.history.load(s.db, now)
}

// setActive records h as its call's active help request, or forgets it.
func (s *Service) setActive(h *HelpRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.Status.active() {
		s.active[h.CallID] = activeHelp{id: h.ID, status: h.Status}
	} else if a, ok := s.active[h.CallID]; ok && a.id == h.ID {
		delete(s.active, h.CallID)
	}
}

// helpRequested is the help-requested flag of a call: an open request.
func (s *Service) helpRequested(callID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[callID].status == HelpOpen
}

// markHelpRequested sets the help-requested flag of every view, under
// one hold of the lock.
func (s *Service) markHelpRequested(items []listItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.active) == 0 {
		return // the usual case: no lookup per call
	}
	for i := range items {
		items[i].help = s.active[items[i].c.ID].status == HelpOpen
	}
}

// activeCount returns how many requests are open and in progress.
func (s *Service) activeCount() (open, inProgress int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.active {
		if a.status == HelpOpen {
			open++
		} else {
			inProgress++
		}
	}
	return open, inProgress
}

// Service implements b2bua.Observer.
var _ b2bua.Observer = (*Service)(nil)
