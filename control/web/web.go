package web

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/control"
)

// Defaults of Config.
const (
	DefaultIdleTimeout = 8 * time.Hour
	DefaultMaxAge      = 12 * time.Hour
	// DefaultMaxSessions bounds the session table.
	DefaultMaxSessions = 10000
)

// Config is what New needs. The zero value of an optional field means its
// default.
type Config struct {
	// Tenants are the users who may sign in (extension, SIP password,
	// role) and their tenants' domains. Required; New copies what it
	// needs.
	Tenants []b2bua.Tenant
	// IdleTimeout ends a session that made no request for this long;
	// MaxAge ends any session this long after sign-in. Defaults:
	// DefaultIdleTimeout, DefaultMaxAge.
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// MaxSessions bounds the live sessions; past it sign-in answers 503.
	MaxSessions int
	// Logger receives sign-in failures and refusals. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Workspace serves the browser workspace and keeps its sessions. Create
// it with New; pass it to control.Config.Sessions; stop it with Close.
type Workspace struct {
	log      *slog.Logger
	now      func() time.Time
	users    *userDirectory
	sessions *sessionStore
	limiter  *failureLimiter
	assets   *assetSet
	handler  http.Handler

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Workspace implements the control package's session hook.
var _ control.Sessions = (*Workspace)(nil)

// New builds the workspace and starts its expiry sweeper.
func New(cfg Config) (*Workspace, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	w := &Workspace{
		log:      cfg.Logger.With("component", "web"),
		now:      cfg.Now,
		users:    newUserDirectory(cfg.Tenants),
		sessions: newSessionStore(cfg.IdleTimeout, cfg.MaxAge, cfg.MaxSessions),
		limiter:  newFailureLimiter(),
		assets:   assets,
		stop:     make(chan struct{}),
	}
	w.handler = w.newHandler()
	w.wg.Add(1)
	go w.sweeper()
	return w, nil
}

// Handler serves the page, its assets and /auth/. Mount it at /.
func (w *Workspace) Handler() http.Handler { return w.handler }

// Stats are the workspace's counters, read at scrape time.
type Stats struct {
	Sessions      int    // live sessions
	LoginFailures uint64 // wrong extension or password, since start
	LoginRefused  uint64 // sign-ins refused for too many recent failures
}

// Stats returns the current counters.
func (w *Workspace) Stats() Stats {
	return Stats{Sessions: w.sessions.count(), LoginFailures: w.limiter.failures.Load(), LoginRefused: w.limiter.refused.Load()}
}

// Close stops the sweeper and ends every session (their event streams
// end too). Safe to call more than once.
func (w *Workspace) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.wg.Wait()
		w.sessions.endAll()
	})
	return nil
}

func (w *Workspace) sweeper() {
	defer w.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.sessions.sweep(w.now())
			w.limiter.sweep(w.now())
		}
	}
}

func (w *Workspace) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", w.servePage)
	mux.HandleFunc("GET /assets/{name}", w.serveAsset)
	mux.HandleFunc("POST /auth/login", w.login)
	mux.HandleFunc("POST /auth/logout", w.logout)
	mux.HandleFunc("GET /auth/me", w.me)
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		writeError(rw, http.StatusNotFound, "no such page")
	})
	return mux
}
