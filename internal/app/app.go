// Package app assembles earshot from its packages: media engine, b2bua and
// the HTTP listener with metrics and health. cmd/earshot, the end-to-end
// tests and the demo start earshot through it, so they run the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/b2bua/queue"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/control"
	"github.com/earshot/earshot/control/web"
	"github.com/earshot/earshot/rtpengine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// App is a running earshot.
type App struct {
	// SIPAddrs are the bound SIP listener addresses, in config order.
	SIPAddrs []string
	// HTTPAddr is the bound HTTP listener address.
	HTTPAddr string
	// SIP is the b2bua, exposed for tests and the demo.
	SIP *b2bua.Server
	// Media is the RTP engine.
	Media *rtpengine.Engine
	// Control is the REST control plane at /api/v1.
	Control *control.Service
	// Events fans the b2bua's call and supervision events out; the control
	// plane is its first subscriber, tests and the demo may add more.
	Events *Fanout
	// Queue routes calls to groups: waiting callers and agent states.
	Queue *queue.Queue
	// Web is the browser workspace at /: the pages and their sessions.
	Web *web.Workspace

	log     *slog.Logger
	cfg     *config.Config
	http    *http.Server
	httpErr chan error
	ready   atomic.Bool
}

// Start brings earshot up on cfg.
func Start(cfg *config.Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	a := &App{log: log, cfg: cfg, httpErr: make(chan error, 1)}
	mc, err := mediaConfig(cfg, log) // the engine tags its lines component=rtpengine
	if err != nil {
		return nil, err
	}
	if a.Media, err = rtpengine.New(mc); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	bc, err := sipConfig(cfg)
	if err != nil {
		a.Media.Close()
		return nil, err
	}
	snd, err := loadSounds(cfg, log)
	if err != nil {
		a.Media.Close()
		return nil, err
	}
	bc.Media = mediaAdapter{a.Media, snd}
	bc.Logger = log
	a.Events = &Fanout{}
	bc.Observer = a.Events
	a.Queue = queue.New(queue.Config{Tenants: bc.WithDefaults().Tenants, Observer: a.Events,
		Logger: log.With("component", "queue")})
	bc.Router, bc.Agents = a.Queue, a.Queue
	if a.SIP, err = b2bua.New(bc); err != nil {
		a.Queue.Close()
		a.Media.Close()
		return nil, err
	}
	a.Queue.SetPresence(a.SIP.Registered)
	// The control plane needs the b2bua (its switchboard) and the b2bua
	// reports to the control plane: the fan-out breaks the cycle, and no
	// event flows before Listen.
	// The workspace authenticates browsers for the API (its sessions are
	// the control plane's cookie principals); it shares the tenants as
	// the b2bua runs them, with their defaults filled in.
	a.Web, err = web.New(web.Config{Tenants: bc.WithDefaults().Tenants, IdleTimeout: cfg.HTTP.SessionIdleTimeout.D(),
		MaxAge: cfg.HTTP.SessionMaxAge.D(), Logger: log})
	if err != nil {
		a.SIP.Close()
		a.Queue.Close()
		a.Media.Close()
		return nil, fmt.Errorf("web: %w", err)
	}
	a.Control, err = control.New(control.Config{Tenants: bc.Tenants, DataDir: cfg.DataDir, Switchboard: a.SIP, Agents: a.Queue,
		Phones: a.SIP, ListenCode: cfg.SIP.FeatureCodes.Listen,
		AuditRetention: cfg.Retention.Audit.D(), CallRetention: cfg.Retention.CallHistory.D(),
		Logger: log.With("component", "control"), Sessions: a.Web, CORSOrigins: cfg.HTTP.CORSOrigins})
	if err != nil {
		a.SIP.Close()
		a.Queue.Close()
		a.Media.Close()
		a.Web.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	a.Events.Add(a.Control)
	a.SIP.SetHelpDesk(a.Control) // the help feature codes, like the API's help requests
	if a.SIPAddrs, err = a.SIP.Listen(sipListeners(cfg)); err != nil {
		a.SIP.Close()
		a.Queue.Close()
		a.Control.Close()
		a.Web.Close()
		a.Media.Close()
		return nil, err
	}

	reg := prometheus.NewRegistry()
	// The scheduler's metrics (go_sched_*) beside the default set: how long
	// runnable goroutines wait for a CPU shows a process behind its work
	// wherever the backlog sits.
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newCollector(a.SIP, a.Media), newSupervisionCollector(a.SIP), newMixerCollector(a.Media), newControlCollector(a.Control),
		newQueueCollector(a.Queue), newWebCollector(a.Web))
	mux := http.NewServeMux()
	mux.Handle(control.Prefix+"/", a.Control.Handler())
	mux.Handle("/", a.Web.Handler())
	mux.Handle("GET /metrics", opsOnly(cfg.HTTP.MetricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	if cfg.HTTP.Pprof {
		mountPprof(mux, cfg.HTTP.MetricsToken)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		a.SIP.Close()
		a.Queue.Close()
		a.Control.Close()
		a.Web.Close()
		a.Media.Close()
		return nil, fmt.Errorf("http listen: %w", err)
	}
	a.HTTPAddr = ln.Addr().String()
	// SIP over WebSocket for browsers (the workspace's webphone, JsSIP
	// or SIP.js phones) on the HTTP listener's /sip.
	wsh, err := a.SIP.WebSocketHandler(a.HTTPAddr, func(r *http.Request) (b2bua.FlowUser, bool) {
		t, ext, ok := a.Web.PhoneUser(r)
		return b2bua.FlowUser{Tenant: t, Extension: ext}, ok
	})
	if err != nil {
		ln.Close()
		a.SIP.Close()
		a.Queue.Close()
		a.Control.Close()
		a.Web.Close()
		a.Media.Close()
		return nil, fmt.Errorf("sip over websocket: %w", err)
	}
	mux.Handle("GET /sip", wsh)
	a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	control.ConfigureServer(a.http)
	go func() { a.httpErr <- a.http.Serve(ln) }()
	a.ready.Store(true)
	return a, nil
}

// Wait blocks until ctx ends or a listener fails.
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-a.SIP.Errors():
		return fmt.Errorf("sip listener: %w", err)
	case err := <-a.httpErr:
		return fmt.Errorf("http: %w", err)
	}
}

// Shutdown stops taking calls (readyz turns 503, INVITEs get 503), drains
// active calls up to the configured timeout, then stops everything.
func (a *App) Shutdown() error {
	a.ready.Store(false)
	a.log.Info("draining calls", "active", a.SIP.ActiveCalls(), "timeout", a.cfg.SIP.DrainTimeout.D())
	dctx, cancel := context.WithTimeout(context.Background(), a.cfg.SIP.DrainTimeout.D())
	a.SIP.Drain(dctx)
	cancel()
	// The calls' last events reach the control plane before it closes;
	// closing it ends the event streams, so the HTTP server can stop.
	a.SIP.Close()
	a.Queue.Close()
	cerr := a.Control.Close()
	a.Web.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.http.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	a.Media.Close()
	return errors.Join(err, cerr)
}
