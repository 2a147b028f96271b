package b2bua

import (
	"context"
	"log/slog"
	"strings"
)

// demoted is a slog handler that records everything at debug level. The
// SIP stack reports every malformed datagram as an error; for an exposed
// server that is attacker-controlled volume, so it goes to debug, where an
// operator can turn it on while investigating. What the stack drops
// because it cannot parse it is counted by kind (Stats.Dropped) whether
// or not debug is on.
type demoted struct {
	h slog.Handler
	// count hears of each message the stack could not parse: why, and
	// the message itself.
	count func(reason, data string)
}

// Enabled lets errors through always, to be counted, and the rest as the
// debug level decides: the stack's frequent debug records are not built
// at all when nobody reads them.
func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || d.h.Enabled(ctx, slog.LevelDebug)
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && strings.Contains(r.Message, "parse") {
		d.count(dropReason(r))
	}
	if !d.h.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler {
	return demoted{d.h.WithAttrs(as), d.count}
}
func (d demoted) WithGroup(g string) slog.Handler { return demoted{d.h.WithGroup(g), d.count} }

// Reasons a message is dropped (Stats.Dropped): unparsed, or unmatched.
const (
	DropHTTP        = "http"        // an HTTP request on a SIP port
	DropGarbage     = "garbage"     // not text that starts like SIP
	DropUnparseable = "unparseable" // SIP-like, but the parser refused it (bad Via, bad Content-Length, …)

	// Over TCP and TLS a message's end is found by its Content-Length
	// (RFC 3261 §18.3); a message that gives no usable one leaves no
	// boundary to find the next on, so its connection is closed
	// (framer.go). HTTP and garbage close a stream connection too.
	DropNoLength  = "no_content_length"  // no Content-Length
	DropBadLength = "bad_content_length" // negative, not a number, overflowing, or given twice
	DropTooLarge  = "too_large"          // a header block or message past the stack's size limit

	// A response that matched no client transaction: mostly a
	// retransmission arriving after its transaction ended (RFC 3261
	// §17.1.1.2 leaves it to the core, which has nothing to do with it).
	DropStrayResponse = "stray_response"
)

// DropReasons lists them, for metrics that export each one.
func DropReasons() []string {
	return []string{DropHTTP, DropGarbage, DropUnparseable, DropNoLength, DropBadLength, DropTooLarge, DropStrayResponse}
}

// dropReason classifies a parse failure by the data the stack logged, and
// returns that data.
func dropReason(r slog.Record) (reason, data string) {
	reason = DropUnparseable
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "data" {
			return true
		}
		data = a.Value.String()
		switch {
		case strings.HasPrefix(data, "GET ") || strings.HasPrefix(data, "POST ") ||
			strings.HasPrefix(data, "HEAD ") || strings.HasPrefix(data, "HTTP/"):
			reason = DropHTTP
		case data == "" || data[0] < 'A' || data[0] > 'Z':
			reason = DropGarbage
		}
		return false
	})
	return reason, data
}
