package b2bua

import "testing"

// New must not write into the caller's Config: the directory would
// otherwise share Tenant, Group and User structs with it.
func TestNewLeavesCallerConfigAlone(t *testing.T) {
	tenants := testTenants(RingAll)
	newTestServer(t, Config{Tenants: tenants}, nil)
	if g := tenants[0].Groups[0]; g.RingTimeout != 0 || g.SLAThreshold != 0 {
		t.Fatalf("New filled defaults into the caller's groups: ring timeout %v, SLA %v", g.RingTimeout, g.SLAThreshold)
	}
}
