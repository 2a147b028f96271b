package b2bua

import (
	"os"
	"testing"
	"time"
)

// TestMain runs the package's tests with completed transactions gone
// after the shortest linger the configuration allows (a second, against
// the default 5 s): whatever leaned on a transaction outliving that
// fails here, and the tests of what comes after it wait little.
func TestMain(m *testing.M) {
	SetTransactionTimers(testLinger)
	os.Exit(m.Run())
}

const testLinger = time.Second
