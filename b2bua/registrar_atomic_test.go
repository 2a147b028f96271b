package b2bua

import (
	"slices"
	"testing"
)

// A REGISTER that fails must leave every binding as it was (RFC 3261
// §10.3: updates are committed if and only if all of them succeed).
func TestRegistrarFailedUpdateIsAtomic(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if _, rerr := r.update("acme", "1001", register(t, "cid-a", 1, "Contact: <sip:a@127.0.0.2>")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	if _, rerr := r.update("acme", "1001", register(t, "cid-b", 5, "Contact: <sip:b@127.0.0.3>")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	// Removing a is fine on its own; b's CSeq 3 on cid-b is out of order,
	// so the whole request must fail and change nothing.
	_, rerr := r.update("acme", "1001", register(t, "cid-b", 3,
		"Contact: <sip:a@127.0.0.2>;expires=0", "Contact: <sip:b@127.0.0.3>"))
	if rerr == nil || rerr.status != 500 {
		t.Fatalf("got %+v, want 500", rerr)
	}
	if got := contactUsers(r.contacts("acme", "1001")); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("bindings after a failed REGISTER: %v, want [a b]", got)
	}
}
