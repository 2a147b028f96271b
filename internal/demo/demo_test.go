package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the whole walk-through, as `earshot demo` does, and checks
// that it measured every step as promised and printed the audit trail.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"plain call: as promised", "whisper: as promised", "barge: as promised",
		"listen: as promised", "intercept: as promised", "help_request.assigned", "supervision.mode_changed",
		"help_request.closed", "Statistics"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "WRONG") {
		t.Errorf("demo measured something wrong:\n%s", s)
	}
}
