package mixer

import (
	"slices"
	"testing"
)

var (
	cust = Party{Role: RoleCustomer}
	agt  = Party{Role: RoleAgent}
)

func sup(m Mode) Party { return Party{Role: RoleSupervisor, Mode: m} }

// TestHearMatrix checks every scenario leg by leg: heard lists, for each
// leg of parties, the indexes of the legs it hears. Anything not listed
// must not be heard, and no leg may hear itself.
func TestHearMatrix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		parties []Party
		heard   [][]int
	}{
		{"no supervisor", []Party{cust, agt}, [][]int{{1}, {0}}},
		// The product table, one supervisor (index 2).
		{"listen", []Party{cust, agt, sup(ModeListen)}, [][]int{{1}, {0}, {0, 1}}},
		{"whisper", []Party{cust, agt, sup(ModeWhisper)}, [][]int{{1}, {0, 2}, {0, 1}}},
		{"barge", []Party{cust, agt, sup(ModeBarge)}, [][]int{{1, 2}, {0, 2}, {0, 1}}},
		{"intercept", []Party{cust, agt, sup(ModeIntercept)}, [][]int{{2}, {}, {0}}},
		// Several supervisors, each in its own mode.
		{"two whisperers", []Party{cust, agt, sup(ModeWhisper), sup(ModeWhisper)},
			[][]int{{1}, {0, 2, 3}, {0, 1}, {0, 1}}},
		{"two listeners", []Party{cust, agt, sup(ModeListen), sup(ModeListen)},
			[][]int{{1}, {0}, {0, 1}, {0, 1}}},
		{"listener and barger", []Party{cust, agt, sup(ModeListen), sup(ModeBarge)},
			[][]int{{1, 3}, {0, 3}, {0, 1, 3}, {0, 1}}},
		{"listener and whisperer", []Party{cust, agt, sup(ModeListen), sup(ModeWhisper)},
			[][]int{{1}, {0, 3}, {0, 1}, {0, 1}}},
		{"whisperer and barger", []Party{cust, agt, sup(ModeWhisper), sup(ModeBarge)},
			[][]int{{1, 3}, {0, 2, 3}, {0, 1, 3}, {0, 1}}},
		{"two bargers", []Party{cust, agt, sup(ModeBarge), sup(ModeBarge)},
			[][]int{{1, 2, 3}, {0, 2, 3}, {0, 1, 3}, {0, 1, 2}}},
		// Intercept: the interceptor takes the agent's place for everyone.
		{"intercept and listener", []Party{cust, agt, sup(ModeIntercept), sup(ModeListen)},
			[][]int{{2}, {}, {0}, {0, 2}}},
		{"intercept and barger", []Party{cust, agt, sup(ModeIntercept), sup(ModeBarge)},
			[][]int{{2, 3}, {}, {0, 3}, {0, 2}}},
		{"intercept and whisperer", []Party{cust, agt, sup(ModeIntercept), sup(ModeWhisper)},
			[][]int{{2}, {}, {0, 3}, {0, 2}}},
		{"two interceptors", []Party{cust, agt, sup(ModeIntercept), sup(ModeIntercept)},
			[][]int{{2, 3}, {}, {0, 3}, {0, 2}}},
		// After the agent leg is removed the interceptor is simply the front.
		{"intercept, agent gone", []Party{cust, sup(ModeIntercept), sup(ModeListen)},
			[][]int{{1}, {0}, {0, 1}}},
		// Invalid parties are inert.
		{"invalid party", []Party{cust, agt, {Role: RoleAgent, Mode: ModeBarge}, {Role: RoleSupervisor}},
			[][]int{{1}, {0}, {}, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			icpt := Intercepted(tc.parties)
			for r, rp := range tc.parties {
				for s, sp := range tc.parties {
					if r == s {
						continue
					}
					want := slices.Contains(tc.heard[r], s)
					if got := Hears(rp, sp, icpt); got != want {
						t.Errorf("leg %d (%v) hears leg %d (%v) = %v, want %v", r, rp, s, sp, got, want)
					}
				}
				if slices.Contains(tc.heard[r], r) {
					t.Fatalf("bad table: leg %d hears itself", r)
				}
			}
		})
	}
}

// TestHearsSymmetricKinds asks, for every party and both states of the call,
// whether two distinct legs of the same kind hear each other: only those that
// talk to everyone do (bargers, and the front: agents while not intercepted,
// interceptors). Listeners and whisperers never hear their peers.
func TestHearsSymmetricKinds(t *testing.T) {
	all := []Party{cust, agt}
	for m := ModeListen; m <= ModeIntercept; m++ {
		all = append(all, sup(m))
	}
	for _, icpt := range []bool{false, true} {
		for _, p := range all {
			got := Hears(p, p, icpt)
			want := p.Role == RoleSupervisor && (p.Mode == ModeBarge || p.Mode == ModeIntercept) ||
				p.Role == RoleAgent && !icpt
			if got != want {
				t.Errorf("intercepted=%v: %v hears another %v = %v, want %v", icpt, p, p, got, want)
			}
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{RoleCustomer.String(), "customer"},
		{RoleAgent.String(), "agent"},
		{RoleSupervisor.String(), "supervisor"},
		{Role(9).String(), "invalid"},
		{ModeNone.String(), "none"},
		{ModeListen.String(), "listen"},
		{ModeWhisper.String(), "whisper"},
		{ModeBarge.String(), "barge"},
		{ModeIntercept.String(), "intercept"},
		{Mode(9).String(), "invalid"},
		{sup(ModeBarge).String(), "supervisor/barge"},
		{cust.String(), "customer"},
		{CodecPCMU.String(), "PCMU"},
		{CodecPCMA.String(), "PCMA"},
		{Codec(9).String(), "invalid"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
