package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/rtpengine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: the embedded demo config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cfg *config.Config
	if *path == "" {
		cfg = config.Default()
	} else {
		var err error
		if cfg, err = config.Load(*path); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if err := cfg.CheckSafety(); err != nil {
		fmt.Fprintln(stderr, "earshot:", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, log, stdout); err != nil {
		log.Error("earshot stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServer starts media, SIP and HTTP, and on ctx's end drains calls.
func runServer(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	mc, err := mediaConfig(cfg, log.With("component", "rtpengine"))
	if err != nil {
		return err
	}
	media, err := rtpengine.New(mc)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer media.Close()

	bc, err := sipConfig(cfg)
	if err != nil {
		return err
	}
	bc.Media = mediaAdapter{media}
	bc.Logger = log
	sip, err := b2bua.New(bc)
	if err != nil {
		return err
	}
	defer sip.Close()
	sipAddrs, err := sip.Listen(sipListeners(cfg))
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newCollector(sip, media))

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	ready.Store(true)

	printBanner(stdout, cfg, sipAddrs, ln.Addr().String())
	log.Info("earshot started", "sip", strings.Join(sipAddrs, ","), "http", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-sip.Errors():
		return fmt.Errorf("sip listener: %w", err)
	case err := <-httpErr:
		return fmt.Errorf("http: %w", err)
	}
	ready.Store(false)
	log.Info("draining calls", "active", sip.ActiveCalls(), "timeout", cfg.SIP.DrainTimeout.D())
	dctx, cancel := context.WithTimeout(context.Background(), cfg.SIP.DrainTimeout.D())
	sip.Drain(dctx)
	cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("earshot stopped cleanly")
	return nil
}

func printBanner(w io.Writer, cfg *config.Config, sipAddrs []string, httpAddr string) {
	fmt.Fprintf(w, "earshot %s\n", version)
	for i, a := range sipAddrs {
		fmt.Fprintf(w, "  SIP %-4s %s\n", strings.ToUpper(cfg.SIP.Listen[i].Transport), a)
	}
	fmt.Fprintf(w, "  HTTP     http://%s/metrics\n", httpAddr)
	fmt.Fprintf(w, "  RTP      %s ports %d-%d\n", cfg.Media.Address, cfg.Media.PortMin, cfg.Media.PortMax)
	if len(sipAddrs) > 0 && len(cfg.Tenants) > 0 && len(cfg.Tenants[0].Users) > 0 {
		u := cfg.Tenants[0].Users[0]
		host, port, _ := net.SplitHostPort(sipAddrs[0])
		fmt.Fprintf(w, "\nRegister a softphone: server %s port %s, user %s, password as configured", host, port, u.Extension)
		if cfg.DemoCredentials() {
			fmt.Fprint(w, " (demo: \"demo\")")
		}
		fmt.Fprintln(w)
		if cfg.DemoCredentials() {
			fmt.Fprintln(w, "WARNING: demo credentials are in use; never expose this configuration beyond loopback.")
		}
	}
}
