package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"slices"
	"strings"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/control"
)

// account is a user who may sign in.
type account struct {
	p            control.Principal
	domains      []string // the tenant's SIP domains, lower case
	sum          [sha256.Size]byte
	modes        []string
	pauseReasons []string
	ring         string // both, browser or phone
}

// userDirectory finds accounts by extension. Extensions repeat across
// tenants, so a bare extension names a user only when one tenant has it
// or the page's host is one of its tenant's domains; ext@domain always
// names one.
type userDirectory struct {
	byExt map[string][]*account
}

func newUserDirectory(tenants []b2bua.Tenant) *userDirectory {
	d := &userDirectory{byExt: map[string][]*account{}}
	for _, t := range tenants {
		domains := []string{strings.ToLower(t.Name)}
		for _, dom := range t.Domains {
			domains = append(domains, strings.ToLower(dom))
		}
		reasons := t.PauseReasons
		if reasons == nil {
			reasons = []string{"break", "lunch", "training"}
		}
		for _, u := range t.Users {
			if u.Password == "" {
				continue // no password, no sign-in
			}
			a := &account{
				p:            control.Principal{Tenant: t.Name, User: u.Extension, Name: u.Name, Role: control.Role(u.Role)},
				domains:      domains,
				sum:          sha256.Sum256([]byte(u.Password)),
				pauseReasons: slices.Clone(reasons),
				ring:         "both",
			}
			if u.Ring != b2bua.RingBoth {
				a.ring = string(u.Ring)
			}
			switch {
			case u.Modes != nil:
				for _, m := range u.Modes {
					a.modes = append(a.modes, string(m))
				}
			case u.Role != b2bua.RoleAgent:
				a.modes = []string{string(b2bua.ModeListen), string(b2bua.ModeWhisper), string(b2bua.ModeBarge), string(b2bua.ModeIntercept)}
			}
			d.byExt[u.Extension] = append(d.byExt[u.Extension], a)
		}
	}
	return d
}

// dummySum is compared against when no account matches, so that a wrong
// extension takes as long as a wrong password.
var dummySum = sha256.Sum256([]byte("earshot: no such user"))

// errAmbiguous: a bare extension that several tenants have.
type errAmbiguous struct{}

func (errAmbiguous) Error() string {
	return "this extension exists in several tenants: sign in as extension@domain"
}

// authenticate returns the account login and password name; host is the
// page's Host header, which picks the tenant of a bare extension.
func (d *userDirectory) authenticate(login, password, host string) (*account, error) {
	ext, domain, _ := strings.Cut(strings.TrimSpace(login), "@")
	domain = strings.ToLower(domain)
	var cands []*account
	for _, a := range d.byExt[ext] {
		if domain == "" || slices.Contains(a.domains, domain) {
			cands = append(cands, a)
		}
	}
	if len(cands) > 1 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		cands = slices.DeleteFunc(cands, func(a *account) bool { return !slices.Contains(a.domains, host) })
		if len(cands) != 1 {
			return nil, errAmbiguous{}
		}
	}
	sum := sha256.Sum256([]byte(password))
	want, a := dummySum, (*account)(nil)
	if len(cands) == 1 {
		want, a = cands[0].sum, cands[0]
	}
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || a == nil {
		return nil, nil
	}
	return a, nil
}
