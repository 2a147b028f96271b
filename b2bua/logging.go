package b2bua

import (
	"context"
	"log/slog"
)

// demoted is a slog handler that records everything at debug level. The
// SIP stack reports every malformed datagram as an error; for an exposed
// server that is attacker-controlled volume, so it goes to debug, where an
// operator can turn it on while investigating.
type demoted struct{ h slog.Handler }

func (d demoted) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.h.WithAttrs(as)} }
func (d demoted) WithGroup(g string) slog.Handler       { return demoted{d.h.WithGroup(g)} }
