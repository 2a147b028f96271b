package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestUserModes(t *testing.T) {
	var c Config
	all := []string{"listen", "whisper", "barge", "intercept"}
	cases := []struct {
		u    User
		want []string
	}{
		{User{Role: RoleAgent}, nil},
		{User{Role: RoleAgent, Modes: []string{"listen"}}, nil}, // invalid, and never a privilege
		{User{Role: RoleSupervisor}, all},
		{User{Role: RoleAdmin}, all},
		{User{Role: RoleSupervisor, Modes: []string{"listen", "whisper"}}, []string{"listen", "whisper"}},
		{User{Role: "bogus"}, nil},
	}
	for _, tc := range cases {
		if got := c.UserModes(tc.u); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.u, got, tc.want)
		}
	}
	u := User{Role: RoleSupervisor, Modes: []string{"listen"}}
	c.UserModes(u)[0] = "barge"
	if u.Modes[0] != "listen" {
		t.Error("UserModes returned the user's own slice")
	}
}

func TestDemoCredentials(t *testing.T) {
	cases := []struct {
		u    User
		want bool
	}{
		{User{Extension: "1", Password: "demo", Token: "real-token-1"}, true},
		{User{Extension: "1", Password: "real", Token: "demo-1"}, true},
		{User{Extension: "1", Password: "real", Token: "demo-2"}, false},
		{User{Extension: "1", Password: "Demo", Token: "real-token-1"}, false},
	}
	for _, tc := range cases {
		c := Config{Tenants: []Tenant{{Name: "t", Users: []User{tc.u}}}}
		if got := c.DemoCredentials(); got != tc.want {
			t.Errorf("%+v: got %v", tc.u, got)
		}
	}
}

func TestNonLoopbackListeners(t *testing.T) {
	cases := []struct {
		sip, http, media string
		want             []string
	}{
		{"127.0.0.1:5060", "127.0.0.1:8080", "127.0.0.1", nil},
		{"127.9.9.9:5060", "[::1]:8080", "::1", nil},
		{"localhost:5060", "LocalHost.:8080", "::ffff:127.0.0.1", nil},
		{"0.0.0.0:5060", "127.0.0.1:8080", "127.0.0.1", []string{"sip.listen[0] udp 0.0.0.0:5060"}},
		{":5060", "[::]:8080", "127.0.0.1", []string{"sip.listen[0] udp :5060", "http.listen [::]:8080"}},
		{"sip.example.net:5060", "127.0.0.1:8080", "192.0.2.1", []string{"sip.listen[0] udp sip.example.net:5060", "media.address 192.0.2.1"}},
		{"127.0.0.1:5060", "10.0.0.1:8080", "0.0.0.0", []string{"http.listen 10.0.0.1:8080", "media.address 0.0.0.0"}},
		{"garbage", "127.0.0.1:8080", "127.0.0.1", []string{"sip.listen[0] udp garbage"}},
	}
	for _, tc := range cases {
		c := Config{
			SIP:   SIP{Listen: []Listener{{Transport: "udp", Address: tc.sip}}},
			HTTP:  HTTP{Listen: tc.http},
			Media: Media{Address: tc.media},
		}
		if got := c.NonLoopbackListeners(); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s %s: got %q, want %q", tc.sip, tc.http, tc.media, got, tc.want)
		}
	}
}

func TestCheckSafety(t *testing.T) {
	exposed := Default()
	exposed.SIP.Listen[0].Address = "0.0.0.0:5060"
	err := exposed.CheckSafety()
	if !errors.Is(err, ErrUnsafeDemo) {
		t.Fatalf("demo credentials on 0.0.0.0: got %v", err)
	}
	for _, want := range []string{"demo/1001", "demo/9000", "sip.listen[0] udp 0.0.0.0:5060"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}

	media := Default()
	media.Media.Address = "192.0.2.7"
	if err := media.CheckSafety(); !errors.Is(err, ErrUnsafeDemo) {
		t.Errorf("demo credentials with public media: got %v", err)
	}

	// Real credentials: exposure is the operator's business.
	real := Default()
	real.SIP.Listen[0].Address = "0.0.0.0:5060"
	for i := range real.Tenants[0].Users {
		u := &real.Tenants[0].Users[i]
		u.Password, u.Token = "pw-"+u.Extension+"-x", "tok-"+u.Extension+"-xyzw"
	}
	if err := real.CheckSafety(); err != nil {
		t.Errorf("real credentials: %v", err)
	}

	// One forgotten demo token is enough to refuse.
	real.Tenants[0].Users[2].Token = "demo-2001"
	if err := real.CheckSafety(); !errors.Is(err, ErrUnsafeDemo) || !strings.Contains(err.Error(), "demo/2001") {
		t.Errorf("one demo token left: got %v", err)
	}
}
