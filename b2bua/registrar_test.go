package b2bua

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

var testPolicy = RegistrationPolicy{Min: 60 * time.Second, Max: time.Hour, Default: 10 * time.Minute, MaxContacts: 3}

// register builds a REGISTER of 1001 with the given Call-ID, CSeq number
// and extra header lines.
func register(t *testing.T, callID string, cseq int, lines ...string) *sip.Request {
	t.Helper()
	all := append([]string{"Call-ID: " + callID, "CSeq: " + strconv.Itoa(cseq) + " REGISTER"}, lines...)
	return sipRequest(t, "REGISTER", "sip:example.com", all...)
}

func contactUsers(cs []contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.uri.User)
	}
	slices.Sort(out)
	return out
}

func TestRegistrarExpiry(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  time.Duration
	}{
		{"policy default", []string{"Contact: <sip:a@127.0.0.2:5060>"}, 10 * time.Minute},
		{"Expires header", []string{"Contact: <sip:a@127.0.0.2:5060>", "Expires: 120"}, 120 * time.Second},
		{"contact param wins over header", []string{"Contact: <sip:a@127.0.0.2:5060>;expires=300", "Expires: 120"}, 300 * time.Second},
		{"clamped to max", []string{"Contact: <sip:a@127.0.0.2:5060>;expires=86400"}, time.Hour},
		{"Expires clamped to max", []string{"Contact: <sip:a@127.0.0.2:5060>", "Expires: 7200"}, time.Hour},
		{"exactly min", []string{"Contact: <sip:a@127.0.0.2:5060>;expires=60"}, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			r := newRegistrar(testPolicy, clk.Now)
			got, rerr := r.update("acme", "1001", register(t, "c1", 1, tc.lines...))
			if rerr != nil {
				t.Fatalf("update: %d %s", rerr.status, rerr.reason)
			}
			if len(got) != 1 {
				t.Fatalf("%d bindings, want 1", len(got))
			}
			if d := got[0].expires.Sub(clk.Now()); d != tc.want {
				t.Errorf("expires in %v, want %v", d, tc.want)
			}
			if got[0].source != "127.0.0.2:5060" || got[0].transport != "UDP" {
				t.Errorf("source %q transport %q", got[0].source, got[0].transport)
			}
		})
	}
}

func TestRegistrarRejects(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		status int
	}{
		{"contact below min", []string{"Contact: <sip:a@127.0.0.2>;expires=30"}, 423},
		{"Expires below min", []string{"Contact: <sip:a@127.0.0.2>", "Expires: 59"}, 423},
		{"wildcard with non-zero Expires", []string{"Contact: *", "Expires: 3600"}, 400},
		{"wildcard without Expires", []string{"Contact: *"}, 400},
		{"negative Expires", []string{"Contact: <sip:a@127.0.0.2>", "Expires: -1"}, 400},
		{"garbage Expires", []string{"Contact: <sip:a@127.0.0.2>", "Expires: soon"}, 400},
		{"garbage contact expires", []string{"Contact: <sip:a@127.0.0.2>;expires=x"}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			r := newRegistrar(testPolicy, clk.Now)
			_, rerr := r.update("acme", "1001", register(t, "c1", 1, tc.lines...))
			if rerr == nil {
				t.Fatalf("accepted, want %d", tc.status)
			}
			if rerr.status != tc.status {
				t.Fatalf("status %d %s, want %d", rerr.status, rerr.reason, tc.status)
			}
			if tc.status == 423 {
				if v := headerValues(rerr.headers, "Min-Expires"); !slices.Equal(v, []string{"60"}) {
					t.Errorf("Min-Expires %v, want [60]", v)
				}
			}
			if n := r.count(); n != 0 {
				t.Errorf("a refused REGISTER left %d bindings", n)
			}
		})
	}
}

func TestRegistrarRemove(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if _, rerr := r.update("acme", "1001", register(t, "c1", 1,
		"Contact: <sip:a@127.0.0.2:5060>", "Contact: <sip:b@127.0.0.3:5060>, <sip:c@127.0.0.4:5060>")); rerr != nil {
		t.Fatalf("register three: %d", rerr.status)
	}
	if got := contactUsers(r.contacts("acme", "1001")); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("contacts %v", got)
	}
	got, rerr := r.update("acme", "1001", register(t, "c1", 2, "Contact: <sip:b@127.0.0.3:5060>;expires=0"))
	if rerr != nil {
		t.Fatalf("remove b: %d", rerr.status)
	}
	if u := contactUsers(got); !slices.Equal(u, []string{"a", "c"}) {
		t.Fatalf("after removing b: %v", u)
	}
	// Removing a binding that does not exist is not an error.
	if _, rerr := r.update("acme", "1001", register(t, "c1", 3, "Contact: <sip:zz@127.0.0.9>", "Expires: 0")); rerr != nil {
		t.Fatalf("remove unknown: %d", rerr.status)
	}
	// Another user's bindings are untouched by the wildcard.
	if _, rerr := r.update("acme", "1002", register(t, "c9", 1, "Contact: <sip:x@127.0.0.5>")); rerr != nil {
		t.Fatalf("register 1002: %d", rerr.status)
	}
	got, rerr = r.update("acme", "1001", register(t, "c1", 4, "Contact: *", "Expires: 0"))
	if rerr != nil || got != nil {
		t.Fatalf("wildcard remove: %v %v", got, rerr)
	}
	if n := len(r.contacts("acme", "1001")); n != 0 {
		t.Fatalf("%d contacts left after Contact: *", n)
	}
	if n := r.count(); n != 1 {
		t.Fatalf("count %d, want 1 (user 1002)", n)
	}
}

func TestRegistrarRefreshInPlace(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if _, rerr := r.update("acme", "1001", register(t, "c1", 1, "Contact: <sip:a@127.0.0.2:5060>;expires=120")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	clk.Advance(100 * time.Second)
	// The same contact URI with other parameters is the same binding.
	got, rerr := r.update("acme", "1001", register(t, "c1", 2, "Contact: <sip:a@127.0.0.2:5060;transport=udp>;expires=120"))
	if rerr != nil {
		t.Fatal(rerr.reason)
	}
	if len(got) != 1 || got[0].expires.Sub(clk.Now()) != 120*time.Second || got[0].cseq != 2 {
		t.Fatalf("refresh: %+v", got)
	}
}

func TestRegistrarMaxContactsEvictsOldest(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	for i, u := range []string{"a", "b", "c", "d"} {
		if _, rerr := r.update("acme", "1001", register(t, "boot-"+u, i+1, "Contact: <sip:"+u+"@127.0.0.2:5060>")); rerr != nil {
			t.Fatalf("register %s: %d", u, rerr.status)
		}
		clk.Advance(time.Second)
	}
	if got := contactUsers(r.contacts("acme", "1001")); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("contacts %v, want the oldest (a) evicted", got)
	}
}

func TestRegistrarOutOfOrder(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if _, rerr := r.update("acme", "1001", register(t, "c1", 5, "Contact: <sip:a@127.0.0.2>")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	for _, cseq := range []int{5, 4} {
		_, rerr := r.update("acme", "1001", register(t, "c1", cseq, "Contact: <sip:a@127.0.0.2>;expires=0"))
		if rerr == nil || rerr.status != 500 {
			t.Fatalf("CSeq %d after 5 on the same Call-ID: %+v, want 500", cseq, rerr)
		}
	}
	if n := len(r.contacts("acme", "1001")); n != 1 {
		t.Fatalf("out-of-order REGISTER changed the bindings: %d left", n)
	}
	// Another Call-ID (a rebooted phone) may start over at any CSeq.
	if _, rerr := r.update("acme", "1001", register(t, "c2", 1, "Contact: <sip:a@127.0.0.2>;expires=0")); rerr != nil {
		t.Fatalf("new Call-ID: %d", rerr.status)
	}
	if n := r.count(); n != 0 {
		t.Fatalf("count %d after removal", n)
	}
}

func TestRegistrarExpiresOverTime(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if _, rerr := r.update("acme", "1001", register(t, "c1", 1,
		"Contact: <sip:a@127.0.0.2>;expires=60", "Contact: <sip:b@127.0.0.2>;expires=120")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	if _, rerr := r.update("globex", "1001", register(t, "c2", 1, "Contact: <sip:c@127.0.0.2>;expires=180")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	steps := []struct {
		after time.Duration
		acme  []string
		count int
	}{
		{59 * time.Second, []string{"a", "b"}, 3},
		{time.Second, []string{"b"}, 2}, // a binding expires at its instant
		{60 * time.Second, nil, 1},
		{60 * time.Second, nil, 0},
	}
	for _, st := range steps {
		clk.Advance(st.after)
		if got := contactUsers(r.contacts("acme", "1001")); !slices.Equal(got, st.acme) {
			t.Errorf("at %v: acme contacts %v, want %v", clk.Now().Sub(newTestClock().Now()), got, st.acme)
		}
		if n := r.count(); n != st.count {
			t.Errorf("at %v: count %d, want %d", clk.Now().Sub(newTestClock().Now()), n, st.count)
		}
	}
	if len(r.bindings) != 0 {
		t.Errorf("expired users still keyed: %d", len(r.bindings))
	}
}

func TestRegistrarContactsIsACopy(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if _, rerr := r.update("acme", "1001", register(t, "c1", 1, "Contact: <sip:a@127.0.0.2>")); rerr != nil {
		t.Fatal(rerr.reason)
	}
	cs := r.contacts("acme", "1001")
	cs[0].uri.User = "mallory"
	if got := r.contacts("acme", "1001")[0].uri.User; got != "a" {
		t.Fatalf("caller's copy changed the table: %q", got)
	}
}

// TestRegistrarRegistered checks the queue's question — is this user
// registered? — across a binding's life, and that asking allocates
// nothing (the queue asks it per agent per routing decision).
func TestRegistrarRegistered(t *testing.T) {
	clk := newTestClock()
	r := newRegistrar(testPolicy, clk.Now)
	if r.registered("acme", "1001") {
		t.Fatal("registered before any REGISTER")
	}
	if _, rerr := r.update("acme", "1001", register(t, "c1", 1, "Contact: <sip:a@127.0.0.2:5060>;expires=60")); rerr != nil {
		t.Fatalf("update: %d %s", rerr.status, rerr.reason)
	}
	if !r.registered("acme", "1001") {
		t.Error("not registered after REGISTER")
	}
	if r.registered("zeta", "1001") || r.registered("acme", "1002") {
		t.Error("another tenant's or user's binding counts")
	}
	if n := testing.AllocsPerRun(100, func() { r.registered("acme", "1001") }); n != 0 {
		t.Errorf("registered allocates %.0f times", n)
	}
	clk.Advance(60 * time.Second)
	if r.registered("acme", "1001") {
		t.Error("registered once the binding expired")
	}
	if got := r.contacts("acme", "1001"); len(got) != 0 {
		t.Errorf("contacts after expiry: %v", contactUsers(got))
	}
}
