package b2bua

import (
	"regexp"
	"testing"
)

func TestSessionID(t *testing.T) {
	fresh := regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15};remote=0{32}$`)
	for _, tc := range []struct {
		name, header, want string
	}{
		{"passed on", "ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2",
			"ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2"},
		{"no remote yet", "AB30317F1A784DC48FF824D0D3715D86", "ab30317f1a784dc48ff824d0d3715d86"},
		{"missing", "", ""},
		{"not a uuid", "hello;remote=x", ""},
		{"bad remote", "ab30317f1a784dc48ff824d0d3715d86;remote=12", ""},
		{"hyphenated", "ab30317f-1a78-4dc4-8ff8-24d0d3715d86", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{}
			if tc.header != "" {
				lines = append(lines, "Session-ID: "+tc.header)
			}
			got := sessionID(sipRequest(t, "INVITE", "sip:100@127.0.0.1", lines...))
			if tc.want != "" && got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.want == "" && !fresh.MatchString(got) {
				t.Fatalf("got %q, want a fresh UUID with the nil remote", got)
			}
		})
	}
}
