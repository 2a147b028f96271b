package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultParses(t *testing.T) {
	cfg := Default() // panics if the embedded file is broken
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := cfg.CheckSafety(); err != nil {
		t.Fatalf("the demo must be safe as shipped: %v", err)
	}
	if !cfg.DemoCredentials() {
		t.Error("DemoCredentials = false for the demo file")
	}
	if l := cfg.NonLoopbackListeners(); len(l) != 0 {
		t.Errorf("demo listens beyond loopback: %v", l)
	}
}

// TestDefaultContent pins the demo that `make run` relies on.
func TestDefaultContent(t *testing.T) {
	cfg := Default()
	if len(cfg.SIP.Listen) != 2 ||
		cfg.SIP.Listen[0] != (Listener{Transport: "udp", Address: "127.0.0.1:5060"}) ||
		cfg.SIP.Listen[1] != (Listener{Transport: "tcp", Address: "127.0.0.1:5060"}) {
		t.Errorf("listeners %+v", cfg.SIP.Listen)
	}
	if len(cfg.Tenants) != 1 {
		t.Fatalf("%d tenants", len(cfg.Tenants))
	}
	tn := cfg.Tenants[0]
	if tn.Name != "demo" || len(tn.Domains) != 0 {
		t.Errorf("tenant %q domains %v", tn.Name, tn.Domains)
	}
	wantTrunk := Trunk{Name: "carrier", Sources: []string{"127.0.0.2/32"}, Outbound: "127.0.0.2:5080", Transport: "udp"}
	if len(tn.Trunks) != 1 || !reflect.DeepEqual(tn.Trunks[0], wantTrunk) {
		t.Errorf("trunks %+v", tn.Trunks)
	}
	wantGroup := Group{Name: "support", Numbers: []Number{{Number: "100", Label: "Support line"}},
		Agents: []string{"1001", "1002"}, Supervisors: []string{"2001"}, Strategy: "ring-all",
		RingTimeout: Duration(30e9), SLAThreshold: Duration(20e9), MaxMissed: 3,
		Queue: Queue{Answer: QueueAnswer, MaxWait: Duration(10 * time.Minute), Announce: AnnounceBoth,
			AnnounceInterval: Duration(30e9), LeaveDigit: "*",
			Overflow: Overflow{Status: 480, Reason: "Temporarily Unavailable"}}}
	if len(tn.Groups) != 1 || !reflect.DeepEqual(tn.Groups[0], wantGroup) {
		t.Errorf("groups %+v", tn.Groups)
	}
	wantUsers := []User{
		{Extension: "1001", Name: "Agent One", Role: "agent", Password: "demo", Token: "demo-1001"},
		{Extension: "1002", Name: "Agent Two", Role: "agent", Password: "demo", Token: "demo-1002"},
		{Extension: "2001", Name: "Supervisor", Role: "supervisor", Password: "demo", Token: "demo-2001"},
		{Extension: "9000", Name: "Admin", Role: "admin", Password: "demo", Token: "demo-9000"},
	}
	if !reflect.DeepEqual(tn.Users, wantUsers) {
		t.Errorf("users %+v", tn.Users)
	}
	if !bytes.Contains(DefaultYAML(), []byte("WARNING: DEMO CREDENTIALS")) {
		t.Error("the demo file lost its warning")
	}
}

// TestDefaultFileSpellsOutDefaults: every optional value in default.yaml is
// written out and equals the built-in default, so the demo file doubles as
// a reference that cannot drift from the code.
func TestDefaultFileSpellsOutDefaults(t *testing.T) {
	c := &collector{file: "default.yaml"}
	root := readYAML(c, DefaultYAML())
	var raw Config
	d := decoder{c: c, budget: maxNodes}
	d.value(root, reflect.ValueOf(&raw).Elem(), "", root.Line)
	if err := c.finish(root); err != nil {
		t.Fatal(err)
	}
	var want Config
	want.SetDefaults()
	got := raw
	got.SIP.Listen, got.Tenants = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default.yaml without listeners and tenants:\n%+v\nbuilt-in defaults:\n%+v", got, want)
	}
	tr, g := raw.Tenants[0].Trunks[0], raw.Tenants[0].Groups[0]
	if tr.Transport != defaultTrunkTransport || g.Strategy != defaultStrategy ||
		g.RingTimeout.D() != defaultRingTimeout || g.SLAThreshold.D() != defaultSLAThreshold {
		t.Errorf("trunk %+v group %+v differ from the defaults", tr, g)
	}
}

func TestDefaultReturnsCopies(t *testing.T) {
	a, b := Default(), Default()
	a.Tenants[0].Users[0].Password = "changed"
	if b.Tenants[0].Users[0].Password != "demo" {
		t.Error("Default results share memory")
	}
	y := DefaultYAML()
	copy(y, "XXXX")
	if strings.HasPrefix(string(DefaultYAML()), "XXXX") {
		t.Error("DefaultYAML returns the embedded bytes themselves")
	}
}

func TestSetDefaultsIdempotent(t *testing.T) {
	cfg := Default()
	again := Default()
	again.SetDefaults()
	if !reflect.DeepEqual(cfg, again) {
		t.Error("SetDefaults changed an already defaulted config")
	}
}

// TestValidateWithoutDefaults covers rules that Parse can never trip,
// because an empty value gets its default first.
func TestValidateWithoutDefaults(t *testing.T) {
	cfg := Default()
	cfg.SIP.FeatureCodes.Barge = ""
	cfg.DataDir = ""
	cfg.SIP.UserAgent = ""
	cfg.Media.Address = ""
	cfg.Tenants[0].Groups[0].Strategy = ""
	err := cfg.Validate()
	want := strings.Join([]string{
		"sip.user_agent: must not be empty",
		"sip.feature_codes.barge: must not be empty",
		"media.address: required: the IP address RTP sockets bind to",
		"data_dir: required: the directory for the database",
		"tenants[0].groups[0].strategy: must be one of ring-all, round-robin, longest-idle",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}
