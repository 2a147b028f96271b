package interop

import "testing"

// TestBaresipRegistersNatively is TestBaresipAgent with baresip
// registering itself (auth_pass in its account line, no help from the test).
func TestBaresipRegistersNatively(t *testing.T) {
	runBaresipAgent(t, true)
}
