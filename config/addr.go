package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// checkHostPort validates "host:port". An empty host is accepted only when
// emptyHostOK (a listener on every interface); the port must be a number in
// 1–65535 (no service names: the same file must mean the same on every
// machine).
//
// A listener (emptyHostOK) may use port 0: the kernel picks a free port and
// earshot prints the bound address; tests rely on it.
func checkHostPort(s string, emptyHostOK bool) error {
	if s == "" {
		return fmt.Errorf("required: host:port")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%s is not host:port (IPv6 hosts go in brackets: [::1]:5060)", quoteShort(s))
	}
	if !digits(port) || len(port) > 5 {
		return fmt.Errorf("port %s must be a number in 1–65535", quoteShort(port))
	}
	lowest := 1
	if emptyHostOK {
		lowest = 0
	}
	if p := atoi(port); p < lowest || p > 65535 {
		return fmt.Errorf("port %s must be a number in %d–65535", port, lowest)
	}
	if host == "" {
		if emptyHostOK {
			return nil
		}
		return fmt.Errorf("%s has no host", quoteShort(s))
	}
	return checkHost(host)
}

// checkHost accepts an IP address or a DNS host name.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if !validHostname(h) {
		return fmt.Errorf("%s is neither an IP address nor a valid host name", quoteShort(h))
	}
	return nil
}

// validHostname follows RFC 1123: dot-separated labels of letters, digits
// and inner hyphens, each 1–63 characters, 253 in all. A trailing dot is
// allowed.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// parseSource reads a trunk source: a CIDR, or a bare IP meaning its host
// prefix (/32 or /128). A CIDR with host bits set is refused rather than
// silently widened or narrowed: this is an access list.
func parseSource(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%s is not an IP address or CIDR", quoteShort(s))
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not an IP address or CIDR", quoteShort(s))
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set; did you mean %s?", s, m)
	}
	return p, nil
}

// isLoopbackHost reports whether a listener host is reachable only from
// this machine. The empty host and the unspecified addresses bind every
// interface; any host name other than localhost may resolve anywhere.
func isLoopbackHost(h string) bool {
	if strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	return a.Unmap().IsLoopback()
}

// digits reports whether s is non-empty and made of ASCII digits only.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi converts a string that digits() accepted and that is at most 5
// digits long.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
