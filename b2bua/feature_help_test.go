package b2bua

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
)

func TestHelpStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		phrase string
	}{
		{fmt.Errorf("x: %w", ErrNotAgent), 403, "Agents Only"},
		{fmt.Errorf("x: %w", ErrHelpActive), 403, "Help Already Requested"},
		{fmt.Errorf("x: %w", ErrNoHelp), 404, "No Help Request Open"},
		{ErrCallNotAnswered, 480, "No Answered Call"},
		{ErrCallNotFound, 480, "No Answered Call"},
		{errors.New("disk full"), 500, "Server Internal Error"},
	} {
		if code, phrase := helpStatus(tc.err); code != tc.code || phrase != tc.phrase {
			t.Errorf("%v: %d %q, want %d %q", tc.err, code, phrase, tc.code, tc.phrase)
		}
	}
}

func TestHelpCode(t *testing.T) {
	s := newTestServer(t, Config{}, nil)
	for num, want := range map[string][2]bool{"*9": {true, true}, "*0": {false, true}, "*91001": {false, false}, "*5": {false, false}} {
		open, ok := s.helpCode(num)
		if open != want[0] || ok != want[1] {
			t.Errorf("%s: open %v ok %v, want %v", num, open, ok, want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("short", 10); got != "short" {
		t.Errorf("clip short: %q", got)
	}
	long := strings.Repeat("ä", 600) // 1200 bytes
	got := clip(long, maxNotifyBytes)
	if len(got) > maxNotifyBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("clip long: %d bytes, valid %v, %q…", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
}

func TestNotifyRequest(t *testing.T) {
	s := newTestServer(t, Config{Tenants: []Tenant{{Name: "acme", Domains: []string{"acme.example"},
		Users: []User{{Extension: "2001", Role: RoleSupervisor}}}}}, nil)
	td := s.dir.tenants["acme"]
	tg := target{agent: "2001", uri: sip.Uri{Scheme: "sip", User: "2001", Host: "192.0.2.7", Port: 5062}, dest: "192.0.2.7:5062"}
	req := s.notifyRequest(td, td.users["2001"], tg, []byte("hello"))
	if req.Method != sip.MESSAGE || req.Recipient.String() != "sip:2001@192.0.2.7:5062" || req.Destination() != "192.0.2.7:5062" ||
		req.Transport() != "UDP" {
		t.Fatalf("request line %s %s to %s over %s", req.Method, req.Recipient.String(), req.Destination(), req.Transport())
	}
	if from := req.From(); from.Address.String() != "sip:earshot@acme.example" {
		t.Errorf("From %s", from.Address.String())
	} else if tag, _ := from.Params.Get("tag"); tag == "" {
		t.Error("From has no tag")
	}
	if to := req.To(); to.Address.String() != "sip:2001@acme.example" {
		t.Errorf("To %s", to.Address.String())
	}
	if ct := req.GetHeader("Content-Type"); ct == nil || ct.Value() != "text/plain;charset=utf-8" {
		t.Errorf("Content-Type %v", ct)
	}
	if cs := req.CSeq(); cs.MethodName != sip.MESSAGE || string(req.Body()) != "hello" {
		t.Errorf("CSeq %v, body %q", cs, req.Body())
	}
	// Nobody registered: nothing sent.
	if n := s.Notify("acme", "2001", "hello"); n != 0 {
		t.Errorf("Notify to an unregistered user went to %d phones", n)
	}
	if n := s.Notify("acme", "nobody", "hello"); n != 0 {
		t.Errorf("Notify to an unknown user went to %d phones", n)
	}
}

// A MESSAGE costs a digest check: it shares the OPTIONS rate per source.
func TestMessageRateLimited(t *testing.T) {
	if got := limitedMethod([]byte("MESSAGE sip:2001@example.com SIP/2.0\r\n")); got != limitOptions {
		t.Fatalf("MESSAGE limited as %d, want the OPTIONS bucket %d", got, limitOptions)
	}
}
