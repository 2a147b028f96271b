package e2e

import (
	"testing"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
)

// Two tenants behind one SBC: their trunks share the source address, and
// earshot tells whose call an INVITE is by the dialled number — or, for a
// number both have, by the Request-URI host (the tenant's domain) — and
// refuses with 404 what nothing tells apart.
func TestTenantsBehindOneSBC(t *testing.T) {
	cfg := testConfig(t)
	cfg.Tenants = append(cfg.Tenants, config.Tenant{Name: "acme", Domains: []string{"acme.example"},
		Trunks: []config.Trunk{{Name: "sbc", Sources: []string{"127.0.0.2/32"}, Outbound: "127.0.0.2:5080"}},
		Groups: []config.Group{
			{Name: "help", Numbers: []config.Number{{Number: "300"}}, Agents: []string{"3001"}},
			{Name: "shared", Numbers: []config.Number{{Number: "777"}}, Agents: []string{"3001"}},
		},
		Users: []config.User{{Extension: "3001", Role: "agent", Password: "acme-pw", Token: "acme-3001-token"}}})
	cfg.Tenants[0].Groups = append(cfg.Tenants[0].Groups, config.Group{Name: "shared", Numbers: []config.Number{{Number: "777"}}, Agents: []string{"1001"}})
	cfg.SetDefaults()
	e := start(t, cfg)
	demoAgent := e.agent("1001", "127.0.0.3", toneAgent)
	acmeAgent := e.phone(phone.Config{IP: "127.0.0.4", User: "3001", Password: "acme-pw", Domain: "acme.example", Tone: toneOther})
	if code, err := acmeAgent.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("acme agent register: %d %v", code, err)
	}
	for _, tc := range []struct {
		name, number, domain string
		agent                *phone.Phone
		hears                float64
	}{
		{"demo's number", "100", "", demoAgent, toneAgent},
		{"acme's number", "300", "", acmeAgent, toneOther},
		{"a number both have, acme's domain", "777", "acme.example", acmeAgent, toneOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := answerNext(t, tc.agent)
			cust := e.phone(phone.Config{IP: "127.0.0.2", User: "5551234", Tone: toneCustomer, Domain: tc.domain})
			cs, err := cust.Call(ctx(t), tc.number)
			if err != nil {
				t.Fatalf("call %s: %v", tc.number, err)
			}
			as := <-got
			if as == nil {
				t.Fatal("the tenant's agent was not rung")
			}
			expectHears(t, "customer", cs, tc.hears)
			_ = cs.Hangup(ctx(t))
			waitActive(t, e, 0)
		})
	}
	// 777 to the plain address: both tenants have it, nothing tells them
	// apart.
	if _, err := e.customer().Call(ctx(t), "777"); statusOf(err) != 404 {
		t.Fatalf("ambiguous call: %v, want 404", err)
	}
}
