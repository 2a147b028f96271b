package e2e

import (
	"os"
	"testing"

	"github.com/earshot/earshot/b2bua"
)

// TestMain runs the end-to-end tests with sipgo's transaction timers as
// in a deployed earshot (`earshot serve` sets them, the linger from
// sip.transaction_linger, before it starts).
func TestMain(m *testing.M) {
	b2bua.SetTransactionTimers(b2bua.DefaultTransactionLinger)
	os.Exit(m.Run())
}
