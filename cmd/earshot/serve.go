package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/app"
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
		if cfg, err = config.LoadWith(*path, app.ConfigOptions()); err != nil {
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

// runServer starts earshot and, when ctx ends, drains calls and stops.
func runServer(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	app.TuneRuntime(cfg.Runtime, log)
	// Process-wide, and before the SIP stack runs.
	b2bua.SetTransactionTimers(cfg.SIP.TransactionLinger.D())
	a, err := app.Start(cfg, log)
	if err != nil {
		return err
	}
	printBanner(stdout, cfg, a.SIPAddrs, a.HTTPAddr)
	log.Info("earshot started", "sip", strings.Join(a.SIPAddrs, ","), "http", a.HTTPAddr)
	werr := a.Wait(ctx)
	if err := a.Shutdown(); err != nil {
		return err
	}
	if werr == nil {
		log.Info("earshot stopped cleanly")
	}
	return werr
}

func printBanner(w io.Writer, cfg *config.Config, sipAddrs []string, httpAddr string) {
	fmt.Fprintf(w, "earshot %s\n", version)
	for i, a := range sipAddrs {
		fmt.Fprintf(w, "  SIP %-4s %s\n", strings.ToUpper(cfg.SIP.Listen[i].Transport), a)
	}
	fmt.Fprintf(w, "  HTTP     http://%s/metrics\n", httpAddr)
	fmt.Fprintf(w, "  API      http://%s/api/v1\n", httpAddr)
	fmt.Fprintf(w, "  Web      http://%s/ (sign in with an extension and its SIP password)\n", httpAddr)
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
