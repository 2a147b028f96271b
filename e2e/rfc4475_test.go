package e2e

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Answers for the RFC 4475 torture messages (testdata/rfc4475: the
// messages of the RFC's §3, byte for byte as its archive holds them).
// Status 0: no answer (a response, which a UAS drops). For TCP, closed
// means earshot closes the connection after its answer (a framing error
// leaves a stream unreadable, RFC 3261 §18.3).
type rfc4475Want struct {
	udp, tcp int
	closed   bool
	why      string // what the RFC's commentary asks, where earshot's answer comes from
}

// rfc4475TCPAlso: a second final response over TCP, to the second
// message a stream finds in the bytes.
var rfc4475TCPAlso = map[string]int{"dblreq": 400}

var rfc4475Cases = map[string]rfc4475Want{
	// §3.1.1 valid messages: taken as well-formed; the answer is the
	// application's.
	"wsinv":      {481, 481, false, "§3.1.1.1 well-formed (LWS, folding, odd case); its To tag names a dialog that does not exist"},
	"intmeth":    {501, 501, false, "§3.1.1.2 endpoints answer an unknown method with 501"},
	"esc01":      {404, 404, false, "§3.1.1.3 well-formed; no such user"},
	"escnull":    {401, 401, false, "§3.1.1.4 well-formed REGISTER: challenged"},
	"esc02":      {501, 501, false, "§3.1.1.5 unknown method: 501"},
	"lwsdisp":    {200, 200, false, "§3.1.1.6 accepted as well-formed"},
	"longreq":    {404, 404, false, "§3.1.1.7 well-formed; the large answer is sent (over UDP too)"},
	"dblreq":     {401, 401, true, "§3.1.1.8 the REGISTER is handled, the trailing octets ignored; on a stream they are the next message, whose body overruns its Content-Length: 400, closed"},
	"semiuri":    {200, 200, false, "§3.1.1.9 well-formed"},
	"transports": {200, 200, false, "§3.1.1.10 well-formed"},
	"mpart01":    {401, 401, false, "§3.1.1.11 well-formed MESSAGE: challenged"},
	"unreason":   {0, 0, false, "§3.1.1.12 a response: no answer"},
	"noreason":   {0, 0, false, "§3.1.1.13 a response: no answer"},
	// §3.1.2 invalid messages.
	"badinv01":   {400, 400, false, "§3.1.2.1 400"},
	"clerr":      {400, 0, false, "§3.1.2.2 400 over UDP; over TCP the body is still to come"},
	"ncl":        {400, 400, true, "§3.1.2.3 an error, and over TCP the connection closed"},
	"scalar02":   {400, 400, false, "§3.1.2.4 400"},
	"scalarlg":   {0, 0, false, "§3.1.2.5 a response: discarded"},
	"quotbal":    {400, 400, false, "§3.1.2.6 400"},
	"ltgtruri":   {400, 400, false, "§3.1.2.7 400"},
	"lwsruri":    {400, 400, false, "§3.1.2.8 400"},
	"lwsstart":   {400, 400, false, "§3.1.2.9 may be rejected: 400"},
	"trws":       {400, 400, false, "§3.1.2.10 may be rejected: 400"},
	"escruri":    {404, 404, false, "§3.1.2.11 may be taken, ignoring the escaped headers; no such user"},
	"baddate":    {404, 404, false, "§3.1.2.12 the Date is not used, so taken; no such user"},
	"regbadct":   {401, 401, false, "§3.1.2.13 may be taken: challenged"},
	"badaspec":   {400, 400, false, "§3.1.2.14 400"},
	"baddn":      {400, 0, false, "§3.1.2.15 400; on a stream its header block has not ended (the message has no empty line)"},
	"badvers":    {505, 505, false, "§3.1.2.16 505"},
	"mismatch01": {400, 400, false, "§3.1.2.17 400"},
	"mismatch02": {501, 501, false, "§3.1.2.18 501 preferred to 400"},
	"bigcode":    {0, 0, false, "§3.1.2.19 a response: dropped"},
	// §3.2 transaction layer.
	"badbranch": {200, 200, false, "§3.2.1 may fall back to RFC 2543 matching: taken"},
	// §3.3 application layer.
	"insuf":    {400, 400, false, "§3.3.1 400 (missing From)"},
	"unkscm":   {416, 416, false, "§3.3.2 416"},
	"novelsc":  {416, 416, false, "§3.3.3 416"},
	"unksm2":   {401, 401, false, "§3.3.4 well-formed REGISTER: challenged"},
	"bext01":   {420, 420, false, "§3.3.5 420 with Unsupported"},
	"invut":    {415, 415, false, "§3.3.6 415 with Accept"},
	"regaut01": {401, 401, false, "§3.3.7 an unknown scheme: challenged with one earshot knows"},
	"multi01":  {400, 400, false, "§3.3.8 400"},
	"mcl01":    {400, 400, true, "§3.3.9 400"},
	"bcast":    {0, 0, false, "§3.3.10 a response: dropped"},
	"zeromf":   {200, 200, false, "§3.3.11 the request is for earshot itself: answered"},
	"cparam01": {401, 401, false, "§3.3.12 well-formed REGISTER: challenged"},
	"cparam02": {401, 401, false, "§3.3.13 well-formed REGISTER: challenged"},
	"regescrt": {401, 401, false, "§3.3.14 well-formed REGISTER: challenged"},
	"sdp01":    {406, 406, false, "§3.3.15 406 (its Accept leaves out SDP)"},
	// §3.4 backward compatibility.
	"inv2543": {400, 400, true, "§3.4.1 earshot does not keep RFC 2543 compatibility: no Contact, 400; on a stream it has no Content-Length: 400, closed"},
}

// TestRFC4475 sends every RFC 4475 torture message, unchanged, to a fresh
// earshot over UDP and over TCP and checks its answer against the RFC's
// commentary (rfc4475Cases); a good call completes after. INVITEs come
// from the trunk's address, so that their answer is about the message,
// not about an unknown caller; the rest from an address of their own.
func TestRFC4475(t *testing.T) {
	files, err := filepath.Glob("testdata/rfc4475/*.dat")
	if err != nil || len(files) != len(rfc4475Cases) {
		t.Fatalf("%d messages in testdata/rfc4475 (%v), %d cases", len(files), err, len(rfc4475Cases))
	}
	viaPort := regexp.MustCompile(`(?i)\n(?:via|v)\s*:[^\n]*?:(\d+)`)
	for i, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dat")
		want, ok := rfc4475Cases[name]
		if !ok {
			t.Fatalf("no expectation for %s", name)
		}
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ip := net.IPv4(127, 0, 3, byte(i+1))
		if strings.HasPrefix(string(msg), "INVITE ") {
			ip = net.IPv4(127, 0, 0, 2) // the trunk
		}
		t.Run(name+"/udp", func(t *testing.T) {
			e := start(t, testConfig(t))
			// A UDP answer goes to the source address and the Via's port
			// (RFC 3261 §18.2.2, no rport in these messages).
			port := 5060
			if m := viaPort.FindSubmatch(msg[:min(len(msg), 400)]); m != nil {
				port, _ = strconv.Atoi(string(m[1]))
			}
			pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			dst, _ := net.ResolveUDPAddr("udp", e.udp())
			if _, err := pc.WriteTo(msg, dst); err != nil {
				t.Fatal(err)
			}
			if got := finalOrNone(pc, want.udp); got != want.udp {
				t.Errorf("over UDP: %d, want %d (%s)", got, want.udp, want.why)
			}
		})
		t.Run(name+"/tcp", func(t *testing.T) {
			e := start(t, testConfig(t))
			conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).Dial("tcp", e.tcp())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(msg); err != nil {
				t.Fatal(err)
			}
			got, closed := streamFinals(conn, want.tcp)
			wantCodes := []int{}
			for _, c := range []int{want.tcp, rfc4475TCPAlso[name]} {
				if c != 0 {
					wantCodes = append(wantCodes, c)
				}
			}
			slices.Sort(got)
			slices.Sort(wantCodes)
			if !slices.Equal(got, wantCodes) || closed != want.closed {
				t.Errorf("over TCP: %v (closed %v), want %v (closed %v) (%s)", got, closed, wantCodes, want.closed, want.why)
			}
		})
	}
	// earshot still serves calls.
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.13", toneAgent)
	cs, as := customerToAgent(t, e.customer(), agent)
	expectHears(t, "agent", as, toneCustomer)
	_ = cs.Hangup(ctx(t))
	waitEnded(t, "agent", as)
}

// finalOrNone reads datagrams on pc and returns the status of the first
// final response, or 0 if none came: within 3 s when one is expected,
// within 1 s otherwise.
func finalOrNone(pc net.PacketConn, want int) int {
	wait := time.Second
	if want != 0 {
		wait = 3 * time.Second
	}
	_ = pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return 0
		}
		if code := status(string(buf[:n])); code >= 200 {
			return code
		}
	}
}

// streamFinals reads conn and returns the statuses of the final
// responses on it, and whether earshot closed the connection: it reads
// until 1 s passes without a byte (3 s before the first answer when one
// is expected) or the connection ends.
func streamFinals(conn net.Conn, want int) (codes []int, closed bool) {
	wait := time.Second
	if want != 0 {
		wait = 3 * time.Second
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			ne, ok := err.(net.Error)
			return codes, !(ok && ne.Timeout())
		}
		if c := status(line); c >= 200 {
			codes = append(codes, c)
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		}
	}
}
