package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// UserModes returns the supervision modes u may use: its Modes when set,
// otherwise all four for a supervisor or admin and none for an agent. The
// slice is the caller's.
func (c *Config) UserModes(u User) []string {
	switch {
	case u.Role == RoleAgent:
		return nil
	case len(u.Modes) > 0:
		return slices.Clone(u.Modes)
	case u.Role == RoleSupervisor || u.Role == RoleAdmin:
		return allModes()
	}
	return nil
}

// DemoCredentials reports whether any user keeps a demo credential: the
// password "demo" or the token "demo-" followed by the user's extension.
func (c *Config) DemoCredentials() bool {
	return len(c.demoUsers()) > 0
}

// demoUsers lists "tenant/extension" of each user with a demo credential.
func (c *Config) demoUsers() []string {
	var out []string
	for _, t := range c.Tenants {
		for _, u := range t.Users {
			if u.Password == "demo" || u.Token == "demo-"+u.Extension {
				out = append(out, t.Name+"/"+u.Extension)
			}
		}
	}
	return out
}

// NonLoopbackListeners lists every address earshot would bind that other
// machines may reach: SIP listeners, the HTTP listener and the media
// address, as "sip.listen[0] udp 0.0.0.0:5060", "http.listen 0.0.0.0:8080"
// and "media.address 192.0.2.10". Loopback IPs and the host name localhost
// are local; an empty host, an unspecified address (0.0.0.0, ::) or any
// other host name is not.
func (c *Config) NonLoopbackListeners() []string {
	var out []string
	for i, l := range c.SIP.Listen {
		if !loopbackHostPort(l.Address) {
			out = append(out, fmt.Sprintf("%s %s %s", idx("sip.listen", i), l.Transport, l.Address))
		}
	}
	if !loopbackHostPort(c.HTTP.Listen) {
		out = append(out, "http.listen "+c.HTTP.Listen)
	}
	if !isLoopbackHost(c.Media.Address) {
		out = append(out, "media.address "+c.Media.Address)
	}
	return out
}

func loopbackHostPort(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopbackHost(host)
}

// CheckSafety refuses a configuration that would expose demo credentials:
// it returns an error wrapping ErrUnsafeDemo when DemoCredentials is true
// and NonLoopbackListeners is not empty. earshot does not start then. The
// demo file is safe as shipped because it binds loopback only.
func (c *Config) CheckSafety() error {
	demo := c.demoUsers()
	if len(demo) == 0 {
		return nil
	}
	exposed := c.NonLoopbackListeners()
	if len(exposed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: users %s still have the demo password \"demo\" or token \"demo-<extension>\", "+
		"and these listeners are reachable from other machines: %s. "+
		"Anyone reaching them could register as these users or call the API. "+
		"Give every user its own password and token, or bind only to loopback (127.0.0.1, ::1)",
		ErrUnsafeDemo, strings.Join(demo, ", "), strings.Join(exposed, "; "))
}
