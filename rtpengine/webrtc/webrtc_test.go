package webrtc

import (
	"crypto"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in   []byte
		want Kind
	}{
		{nil, KindOther},
		{[]byte{0x00, 0x01}, KindSTUN},
		{[]byte{0x03}, KindSTUN},
		{[]byte{0x10}, KindOther}, // ZRTP
		{[]byte{20}, KindDTLS},
		{[]byte{22, 0xfe, 0xfd}, KindDTLS},
		{[]byte{63}, KindDTLS},
		{[]byte{64}, KindOther}, // TURN channel
		{[]byte{0x80, 0x00}, KindRTP},
		{[]byte{0x80, 0x88}, KindRTP},  // PCMA with the marker bit
		{[]byte{0x81, 0xc8}, KindRTCP}, // SR
		{[]byte{0x80, 0xc9}, KindRTCP}, // RR
		{[]byte{0x80, 0xdf}, KindRTCP},
		{[]byte{0x80, 0xe0}, KindRTP},
		{[]byte{0x80}, KindRTP},
		{[]byte{0xc0}, KindOther},
	}
	for _, tt := range tests {
		if got := Classify(tt.in); got != tt.want {
			t.Errorf("Classify(% x) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	d256 := strings.Repeat("ab:", 31) + "ab"
	tests := []struct {
		in   string
		want string // "" for an error
	}{
		{"sha-256 " + d256, "sha-256 " + strings.ToUpper(d256)},
		{"SHA-256 " + d256, "sha-256 " + strings.ToUpper(d256)},
		{"sha-1 " + strings.Repeat("01:", 19) + "01", "sha-1 " + strings.Repeat("01:", 19) + "01"},
		{"sha-256 AB:CD", ""},
		{"md5 " + strings.Repeat("01:", 15) + "01", ""},
		{"sha-256", ""},
		{"sha-256 " + strings.Repeat("zz:", 31) + "zz", ""},
		{"", ""},
	}
	for _, tt := range tests {
		fp, err := ParseFingerprint(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrBadFingerprint) {
				t.Errorf("ParseFingerprint(%q) = %v, %v; want ErrBadFingerprint", tt.in, fp, err)
			}
			continue
		}
		if err != nil || fp.String() != tt.want {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", tt.in, fp.String(), err, tt.want)
		}
	}
}

func TestCertificateFingerprint(t *testing.T) {
	c, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	fp, err := ParseFingerprint(c.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if fp.hash != crypto.SHA256 || !fp.matches(c.tls.Certificate[0]) {
		t.Fatalf("fingerprint %s does not match the certificate", c.Fingerprint())
	}
	other, _ := NewCertificate()
	if fp.matches(other.tls.Certificate[0]) {
		t.Fatal("fingerprint matches another certificate")
	}
}

func TestCredentials(t *testing.T) {
	c := NewCredentials()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c == NewCredentials() {
		t.Fatal("two calls made the same credentials")
	}
	for _, bad := range []Credentials{
		{Ufrag: "abc", Pwd: c.Pwd},
		{Ufrag: c.Ufrag, Pwd: "short"},
		{Ufrag: "ab:cd", Pwd: c.Pwd},
		{Ufrag: c.Ufrag, Pwd: strings.Repeat("é", 22)},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Validate(%+v) = %v, want ErrBadCredentials", bad, err)
		}
	}
}

// wire records what a transport sends.
type wire struct {
	mu   sync.Mutex
	sent [][]byte
	to   []netip.AddrPort
}

func (w *wire) send(b []byte, to netip.AddrPort) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, append([]byte(nil), b...))
	w.to = append(w.to, to)
	return nil
}

func (w *wire) take() ([][]byte, []netip.AddrPort) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, to := w.sent, w.to
	w.sent, w.to = nil, nil
	return s, to
}

// check builds a binding request as a browser sends it to earshot.
func check(t testing.TB, user, pwd string, nominate bool, fingerprint bool) []byte {
	t.Helper()
	ss := []stun.Setter{stun.TransactionID, stun.BindingRequest, stun.NewUsername(user)}
	if nominate {
		ss = append(ss, useCandidate{})
	}
	ss = append(ss, stun.NewShortTermIntegrity(pwd))
	if fingerprint {
		ss = append(ss, stun.Fingerprint)
	}
	m, err := stun.Build(ss...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

type useCandidate struct{}

func (useCandidate) AddTo(m *stun.Message) error { m.Add(stun.AttrUseCandidate, nil); return nil }

func testTransport(t testing.TB, w *wire, client bool) (*Transport, Credentials, Credentials) {
	t.Helper()
	cert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	peerCert, _ := NewCertificate()
	fp, _ := ParseFingerprint(peerCert.Fingerprint())
	local, remote := NewCredentials(), NewCredentials()
	tr, err := New(Config{Certificate: cert, Local: local, Remote: remote, RemoteFingerprint: fp, Client: client, Send: w.send})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, local, remote
}

// TestSTUNChecks: only a binding request with earshot's ufrag first, the
// peer's second, and MESSAGE-INTEGRITY under earshot's password is
// answered, with a success carrying the source as XOR-MAPPED-ADDRESS and
// earshot's integrity; the first selects the peer, a nomination from
// elsewhere moves it.
func TestSTUNChecks(t *testing.T) {
	w := &wire{}
	tr, local, remote := testTransport(t, w, false)
	src := netip.MustParseAddrPort("192.0.2.7:40000")
	good := local.Ufrag + ":" + remote.Ufrag
	for _, bad := range []struct {
		name string
		pkt  []byte
	}{
		{"wrong ufrag", check(t, "nope:"+remote.Ufrag, local.Pwd, true, true)},
		{"swapped ufrags", check(t, remote.Ufrag+":"+local.Ufrag, local.Pwd, true, true)},
		{"wrong password", check(t, good, remote.Pwd, true, true)},
		{"no integrity", func() []byte {
			m, _ := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(good))
			return m.Raw
		}()},
		{"not a request", func() []byte {
			m, _ := stun.Build(stun.TransactionID, stun.BindingSuccess, stun.NewUsername(good), stun.NewShortTermIntegrity(local.Pwd))
			return m.Raw
		}()},
		{"garbage", []byte{0, 1, 0, 0, 1, 2, 3}},
	} {
		if got := tr.HandleSTUN(bad.pkt, src); got != STUNDropped {
			t.Errorf("%s: %v, want dropped", bad.name, got)
		}
	}
	if sent, _ := w.take(); len(sent) != 0 {
		t.Fatalf("%d answers to bad checks", len(sent))
	}
	if tr.Peer().IsValid() || tr.State() != StateNew {
		t.Fatalf("bad checks selected %v (state %v)", tr.Peer(), tr.State())
	}

	if got := tr.HandleSTUN(check(t, good, local.Pwd, false, true), src); got != STUNSelected {
		t.Fatalf("first valid check: %v, want selected", got)
	}
	sent, to := w.take()
	if len(sent) != 1 || to[0] != src {
		t.Fatalf("answers %d to %v, want 1 to %v", len(sent), to, src)
	}
	resp := &stun.Message{Raw: sent[0]}
	if err := resp.Decode(); err != nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("answer %v, %v; want a binding success", resp.Type, err)
	}
	if err := stun.NewShortTermIntegrity(local.Pwd).Check(resp); err != nil {
		t.Errorf("answer integrity: %v", err)
	}
	if err := stun.Fingerprint.Check(resp); err != nil {
		t.Errorf("answer fingerprint: %v", err)
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(resp); err != nil || xor.String() != src.String() {
		t.Errorf("XOR-MAPPED-ADDRESS %v, %v; want %v", xor, err, src)
	}
	if tr.Peer() != src || tr.State() != StateConnecting {
		t.Fatalf("peer %v state %v, want %v connecting", tr.Peer(), tr.State(), src)
	}

	other := netip.MustParseAddrPort("192.0.2.8:40002")
	if got := tr.HandleSTUN(check(t, good, local.Pwd, false, false), other); got != STUNAnswered {
		t.Errorf("check from another candidate: %v, want answered", got)
	}
	if got := tr.HandleSTUN(check(t, good, local.Pwd, true, true), other); got != STUNSelected || tr.Peer() != other {
		t.Errorf("nomination from another candidate: %v, peer %v; want selected %v", got, tr.Peer(), other)
	}
	tr.Close()
	if got := tr.HandleSTUN(check(t, good, local.Pwd, true, true), src); got != STUNDropped {
		t.Errorf("after Close: %v, want dropped", got)
	}
	if tr.State() != StateClosed {
		t.Errorf("state %v after Close", tr.State())
	}
}

// TestNotReady: before DTLS completes nothing is sent or decrypted.
func TestNotReady(t *testing.T) {
	w := &wire{}
	tr, _, _ := testTransport(t, w, false)
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	if err := tr.WriteRTP(pkt, netip.MustParseAddrPort("192.0.2.7:40000")); !errors.Is(err, ErrNotReady) {
		t.Errorf("WriteRTP: %v, want ErrNotReady", err)
	}
	if _, err := tr.UnprotectRTP(pkt); !errors.Is(err, ErrNotReady) {
		t.Errorf("UnprotectRTP: %v, want ErrNotReady", err)
	}
}

// waitState waits for tr to reach want.
func waitState(t testing.TB, tr *Transport, want State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for tr.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("transport %v, want %v", tr.State(), want)
		}
		<-tick.C
	}
}

// FuzzHandleSTUN feeds hostile datagrams to the demultiplexer and the ICE
// responder: nothing panics, and nothing unauthenticated is answered.
func FuzzHandleSTUN(f *testing.F) {
	local, remote := Credentials{Ufrag: "earshot1", Pwd: "earshotearshotearshot1"}, Credentials{Ufrag: "peer", Pwd: "peerpeerpeerpeerpeerpeer"}
	f.Add(check(f, "earshot1:peer", local.Pwd, true, true))
	f.Add(check(f, "earshot1:peer", "wrongwrongwrongwrongwrong", true, true))
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		w := &wire{}
		cert, err := NewCertificate()
		if err != nil {
			t.Fatal(err)
		}
		fp, _ := ParseFingerprint(cert.Fingerprint())
		tr, err := New(Config{Certificate: cert, Local: local, Remote: remote, RemoteFingerprint: fp, Send: w.send})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		Classify(pkt)
		res := tr.HandleSTUN(pkt, netip.MustParseAddrPort("192.0.2.7:40000"))
		m := &stun.Message{Raw: append([]byte(nil), pkt...)}
		if res != STUNDropped && (m.Decode() != nil || stun.NewShortTermIntegrity(local.Pwd).Check(m) != nil) {
			t.Fatalf("answered an unauthenticated datagram: %v", res)
		}
	})
}
