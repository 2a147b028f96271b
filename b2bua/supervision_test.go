package b2bua

import (
	"errors"
	"testing"
)

func TestFeatureCode(t *testing.T) {
	s := newTestServer(t, Config{Tenants: testTenants(RingAll),
		FeatureCodes: FeatureCodes{Listen: "*1", Whisper: "*12", Barge: "#3"}}, nil)
	tests := []struct {
		num   string
		mode  Mode
		agent string
		ok    bool
	}{
		{"*11001", ModeListen, "1001", true},
		{"*121001", ModeWhisper, "1001", true}, // the longest code wins
		{"#31001", ModeBarge, "1001", true},
		{"*41001", ModeIntercept, "1001", true}, // default for the code left empty
		{"*1", "", "", false},
		{"*91001", "", "", false},
		{"1001", "", "", false},
	}
	for _, tc := range tests {
		m, a, ok := s.featureCode(tc.num)
		if m != tc.mode || a != tc.agent || ok != tc.ok {
			t.Errorf("featureCode(%q) = %q %q %v, want %q %q %v", tc.num, m, a, ok, tc.mode, tc.agent, tc.ok)
		}
	}
}

func TestInfoDigit(t *testing.T) {
	tests := []struct {
		ctype, body string
		want        byte
		ok          bool
	}{
		{"application/dtmf-relay", "Signal=2\r\nDuration=160\r\n", '2', true},
		{"application/dtmf-relay", "signal= #\nDuration=100", '#', true},
		{"application/dtmf-relay", "Duration=100", 0, false},
		{"application/dtmf-relay", "Signal=22", 0, false},
		{"application/dtmf", "4", '4', true},
		{"application/dtmf", "d", 'D', true},
		{"application/dtmf", "x", 0, false},
		{"text/plain", "Signal=1", 0, false},
		{"", "1", 0, false},
	}
	for _, tc := range tests {
		lines := []string{}
		if tc.ctype != "" {
			lines = append(lines, "Content-Type: "+tc.ctype)
		}
		req := sipRequest(t, "INFO", "sip:earshot@127.0.0.1", lines...)
		req.SetBody([]byte(tc.body))
		d, ok := infoDigit(req)
		if d != tc.want || ok != tc.ok {
			t.Errorf("%s %q: %q %v, want %q %v", tc.ctype, tc.body, d, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckSupervisor(t *testing.T) {
	listenOnly := &User{Role: "supervisor", Modes: []Mode{ModeListen}}
	tests := []struct {
		u    *User
		m    Mode
		want error
	}{
		{&User{Role: "supervisor"}, ModeIntercept, nil},
		{&User{Role: "admin"}, ModeBarge, nil},
		{&User{Role: "agent"}, ModeListen, ErrNotSupervisor},
		{listenOnly, ModeListen, nil},
		{listenOnly, ModeWhisper, ErrModeNotAllowed},
		{&User{Role: "supervisor", Modes: []Mode{}}, ModeListen, ErrModeNotAllowed},
		{&User{Role: "supervisor"}, "shout", ErrUnknownMode},
	}
	for _, tc := range tests {
		if err := checkSupervisor(tc.u, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%+v %s: %v, want %v", tc.u, tc.m, err, tc.want)
		}
	}
}
