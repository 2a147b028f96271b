package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawTrunk is a carrier's SIP element written by hand on 127.0.0.2, so a
// test controls every header it sends and sees every byte earshot returns.
type rawTrunk struct {
	t      *testing.T
	sip    net.PacketConn
	rtp    net.PacketConn // where the trunk's SDP points; keeps earshot's RTP off other ports
	server net.Addr
}

func newRawTrunk(t *testing.T, server string) *rawTrunk {
	t.Helper()
	r := &rawTrunk{t: t}
	var err error
	if r.sip, err = net.ListenPacket("udp", "127.0.0.2:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.sip.Close() })
	if r.rtp, err = net.ListenPacket("udp", "127.0.0.2:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.rtp.Close() })
	if r.server, err = net.ResolveUDPAddr("udp", server); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rawTrunk) addr() string { return r.sip.LocalAddr().String() }

func (r *rawTrunk) send(msg string) {
	r.t.Helper()
	if _, err := r.sip.WriteTo([]byte(msg), r.server); err != nil {
		r.t.Fatal(err)
	}
}

// final reads responses until a final one for method arrives.
func (r *rawTrunk) final(method string) string {
	r.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = r.sip.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := r.sip.ReadFrom(buf)
		if err != nil {
			r.t.Fatalf("no final response to %s: %v", method, err)
		}
		m := string(buf[:n])
		if !strings.HasPrefix(m, "SIP/2.0 ") || !strings.HasSuffix(header(m, "CSeq"), " "+method) {
			continue
		}
		if code, _ := strconv.Atoi(m[8:11]); code >= 200 {
			return m
		}
	}
}

// request builds an in-dialog request toward earshot's Contact in res.
func (r *rawTrunk) request(method string, cseq int, res, callID, branch string) string {
	target := strings.Trim(header(res, "Contact"), "<>")
	if i := strings.Index(target, ">"); i >= 0 {
		target = target[:i]
	}
	return method + " " + target + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.addr() + ";branch=" + branch + "\r\n" +
		"From: " + header(res, "From") + "\r\nTo: " + header(res, "To") + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

// TestTrunkIdentityHeadersAndTopologyHiding sends a trunk INVITE that has
// crossed a carrier proxy (two Vias, a Record-Route) and carries
// P-Asserted-Identity and Diversion. The agent must get both identity
// headers and nothing of the trunk leg's addressing; the trunk's 200 OK
// must carry nothing of the agent leg's.
func TestTrunkIdentityHeadersAndTopologyHiding(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	tr := newRawTrunk(t, e.udp())

	const (
		pai       = `"Jane Caller" <sip:+493012345678@carrier.test;user=phone>`
		diversion = `<sip:+493099999@carrier.test>;reason=unconditional;counter=1`
		callID    = "trunk-identity-call@carrier.test"
	)
	rtpPort := tr.rtp.LocalAddr().(*net.UDPAddr).Port
	body := "v=0\r\no=carrier 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(rtpPort) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	tr.send("INVITE sip:100@" + e.udp() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + tr.addr() + ";branch=z9hG4bKtrunkhop1\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bKupstreamhop1;received=127.0.0.2\r\n" +
		"Record-Route: <sip:127.0.0.2:5998;lr;carrier-rr>\r\n" +
		"From: \"Jane Caller\" <sip:+493012345678@carrier.test>;tag=trunktag1\r\n" +
		"To: <sip:100@carrier.test>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:carrier-contact@" + tr.addr() + ">\r\n" +
		"P-Asserted-Identity: " + pai + "\r\nDiversion: " + diversion + "\r\n" +
		"Max-Forwards: 70\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)

	in, err := agent.Next(ctx(t))
	if err != nil {
		t.Fatalf("the agent was not rung: %v", err)
	}
	req := in.Req
	if got := req.GetHeader("P-Asserted-Identity"); got == nil || got.Value() != pai {
		t.Errorf("agent's P-Asserted-Identity = %v, want %q", got, pai)
	}
	if got := req.GetHeader("Diversion"); got == nil || got.Value() != diversion {
		t.Errorf("agent's Diversion = %v, want %q", got, diversion)
	}
	toAgent := req.String()
	// The trunk leg's addresses, branches, route, tag and Call-ID are all
	// marked; none may reach the agent (the identity headers name only
	// carrier.test, never 127.0.0.2).
	for _, leak := range []string{"127.0.0.2", "z9hG4bKtrunkhop1", "z9hG4bKupstreamhop1", "carrier-rr",
		"carrier-contact", "trunktag1", callID} {
		if strings.Contains(toAgent, leak) {
			t.Errorf("the agent's INVITE contains the trunk leg's %q:\n%s", leak, toAgent)
		}
	}
	if n := len(req.GetHeaders("Via")); n != 1 {
		t.Errorf("the agent's INVITE has %d Via headers, want earshot's only", n)
	}
	if rr := req.GetHeaders("Record-Route"); len(rr) != 0 {
		t.Errorf("the agent's INVITE has Record-Route %v", rr)
	}

	_ = in.Ring()
	as, err := in.Answer()
	if err != nil {
		t.Fatalf("agent answer: %v", err)
	}
	ok := tr.final("INVITE")
	if !strings.HasPrefix(ok, "SIP/2.0 200") {
		t.Fatalf("trunk got %q", ok)
	}
	// Everything of the agent leg is on 127.0.0.3 (its Via, Contact and
	// SDP) or is the agent leg's Call-ID and tags.
	for _, leak := range []string{"127.0.0.3", req.CallID().Value(), in.Req.Via().Params.GetOr("branch", "no-branch")} {
		if strings.Contains(ok, leak) {
			t.Errorf("the trunk's 200 OK contains the agent leg's %q:\n%s", leak, ok)
		}
	}
	if vias := headers(ok, "Via"); len(vias) != 2 || !strings.Contains(vias[0], "z9hG4bKtrunkhop1") ||
		!strings.Contains(vias[1], "z9hG4bKupstreamhop1") {
		t.Errorf("the trunk's 200 OK Vias = %q, want the trunk's two in order", vias)
	}
	// The trunk's own route set comes back to it (RFC 3261 §12.1.1), and
	// only that.
	if rr := headers(ok, "Record-Route"); len(rr) != 1 || rr[0] != "<sip:127.0.0.2:5998;lr;carrier-rr>" {
		t.Errorf("the trunk's 200 OK Record-Route = %q, want the trunk's own", rr)
	}
	if c := header(ok, "Contact"); !strings.Contains(c, e.udp()) {
		t.Errorf("the trunk's 200 OK Contact = %q, want earshot's %s", c, e.udp())
	}

	tr.send(tr.request("ACK", 1, ok, callID, "z9hG4bKtrunkack1"))
	tr.send(tr.request("BYE", 2, ok, callID, "z9hG4bKtrunkbye1"))
	if res := tr.final("BYE"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Errorf("BYE from the trunk answered %q", res)
	}
	waitEnded(t, "agent", as)
	waitActive(t, e, 0)
}

// headers returns every value of a header in a raw message, in order.
func headers(msg, name string) []string {
	var out []string
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
