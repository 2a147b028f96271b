package e2e

import (
	"os"
	"testing"

	"github.com/earshot/earshot/b2bua"
)

// TestMain runs the end-to-end tests with completed SIP transactions
// lingering as long as in a deployed earshot (`earshot serve` sets it
// from sip.transaction_linger before it starts).
func TestMain(m *testing.M) {
	b2bua.SetTransactionLinger(b2bua.DefaultTransactionLinger)
	os.Exit(m.Run())
}
