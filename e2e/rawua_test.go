package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawUA is a hand-driven SIP endpoint on UDP for the tests that need to
// control what a standard stack does for you: when to PRACK, what an ACK
// carries. It speaks as the customer on the trunk address.
type rawUA struct {
	t      *testing.T
	conn   net.PacketConn
	server *net.UDPAddr
	local  string
	callID string
	cseq   int
	branch int
}

func newRawUA(t *testing.T, server string) *rawUA {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ra, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	return &rawUA{t: t, conn: c, server: ra, local: c.LocalAddr().String(), callID: fmt.Sprintf("raw-%d@test", time.Now().UnixNano())}
}

func (u *rawUA) send(msg string) {
	u.t.Helper()
	if _, err := u.conn.WriteTo([]byte(msg), u.server); err != nil {
		u.t.Fatal(err)
	}
}

// next returns the next SIP message within d, or "" if none came.
func (u *rawUA) next(d time.Duration) string {
	buf := make([]byte, 8192)
	_ = u.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.conn.ReadFrom(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// until returns every message received until d has passed.
func (u *rawUA) until(d time.Duration) []string {
	var out []string
	end := time.Now().Add(d)
	for left := time.Until(end); left > 0; left = time.Until(end) {
		if m := u.next(left); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// await returns the first message for which match is true, answering
// any BYE on the way; it fails the test after d.
func (u *rawUA) await(what string, d time.Duration, match func(string) bool) string {
	u.t.Helper()
	end := time.Now().Add(d)
	for left := time.Until(end); left > 0; left = time.Until(end) {
		m := u.next(left)
		if m == "" {
			break
		}
		if match(m) {
			return m
		}
	}
	u.t.Fatalf("no %s within %v", what, d)
	return ""
}

func (u *rawUA) headers(method, ruri, to string, cseq int, cseqMethod string) string {
	u.branch++
	return method + " " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-raw" + strconv.Itoa(u.branch) + "\r\n" +
		"From: <sip:5550000@127.0.0.2>;tag=raw\r\nTo: " + to + "\r\n" +
		"Call-ID: " + u.callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + cseqMethod + "\r\n" +
		"Contact: <sip:5550000@" + u.local + ">\r\nMax-Forwards: 70\r\n"
}

// invite sends the INVITE to number (with extra header lines and an
// optional SDP body).
func (u *rawUA) invite(number, extra, body string) {
	u.cseq = 1
	msg := u.headers("INVITE", "sip:"+number+"@"+u.server.String(), "<sip:"+number+"@127.0.0.1>", 1, "INVITE") + extra
	if body != "" {
		msg += "Content-Type: application/sdp\r\n"
	}
	u.send(msg + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// inDialog sends a request inside the dialog a response established.
func (u *rawUA) inDialog(res, method, extra, body string) {
	cseq, cseqMethod := u.cseq, method
	if method != "ACK" {
		u.cseq++
		cseq = u.cseq
	}
	msg := u.headers(method, contactURI(res), header(res, "To"), cseq, cseqMethod) + extra
	if body != "" {
		msg += "Content-Type: application/sdp\r\n"
	}
	u.send(msg + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// reply answers a request with code, echoing its dialog headers.
func (u *rawUA) reply(req string, code int, reason string) {
	msg := "SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n"
	for _, l := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "to", "call-id", "cseq":
			msg += l + "\r\n"
		}
	}
	u.send(msg + "Content-Length: 0\r\n\r\n")
}

// status is the code of a response, 0 for a request.
func status(m string) int {
	if !strings.HasPrefix(m, "SIP/2.0 ") || len(m) < 11 {
		return 0
	}
	code, _ := strconv.Atoi(m[8:11])
	return code
}

// cseqMethod is the method named in a message's CSeq.
func cseqMethod(m string) string {
	f := strings.Fields(header(m, "CSeq"))
	if len(f) != 2 {
		return ""
	}
	return f[1]
}

func contactURI(m string) string {
	c := header(m, "Contact")
	if i, j := strings.IndexByte(c, '<'), strings.IndexByte(c, '>'); i >= 0 && j > i {
		return c[i+1 : j]
	}
	return c
}

func body(m string) string {
	_, b, _ := strings.Cut(m, "\r\n\r\n")
	return b
}
