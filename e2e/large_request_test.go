package e2e

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLargeInviteGoesOverTCP: a customer's offer lists so many codecs that
// earshot's INVITE to the agent is larger than 1300 bytes; earshot sends it
// over TCP to the agent's address (RFC 3261 §18.1.1) instead of failing to
// send the datagram, with every codec of the offer in it, and takes the
// agent's answer (busy) from that connection.
func TestLargeInviteGoesOverTCP(t *testing.T) {
	e := start(t, testConfig(t))
	agent := e.agent("1001", "127.0.0.3", toneAgent)
	ln, err := net.Listen("tcp", agent.Addr()) // the phone's port, on TCP
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	sdp := sdpFrom("127.0.0.2", 40008)
	sdp = strings.Replace(sdp, "RTP/AVP 0\r\n", "RTP/AVP 0", 1)
	var fmts, maps strings.Builder
	for pt := 96; pt < 128; pt++ {
		fmts.WriteString(" " + strconv.Itoa(pt))
		maps.WriteString("a=rtpmap:" + strconv.Itoa(pt) + " x-codec-" + strconv.Itoa(pt) + "/8000\r\n")
	}
	sdp = strings.Replace(sdp, "RTP/AVP 0", "RTP/AVP 0"+fmts.String()+"\r\n", 1) + maps.String()

	got := make(chan string, 1)
	go func() {
		defer close(got)
		_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		r := textproto.NewReader(bufio.NewReader(conn))
		start, err := r.ReadLine()
		if err != nil {
			return
		}
		hdr, err := r.ReadMIMEHeader()
		if err != nil {
			return
		}
		n, _ := strconv.Atoi(hdr.Get("Content-Length"))
		body := make([]byte, n)
		if _, err := io.ReadFull(r.R, body); err != nil {
			return
		}
		got <- start + "\r\nVia: " + hdr.Get("Via") + "\r\n\r\n" + string(body)
		// Busy: the call ends for the customer.
		res := "SIP/2.0 486 Busy Here\r\nVia: " + hdr.Get("Via") + "\r\nFrom: " + hdr.Get("From") + "\r\nTo: " + hdr.Get("To") + ";tag=tcp\r\n" +
			"Call-ID: " + hdr.Get("Call-Id") + "\r\nCSeq: " + hdr.Get("Cseq") + "\r\nContent-Length: 0\r\n\r\n"
		_, _ = conn.Write([]byte(res))
		time.Sleep(500 * time.Millisecond) // for the ACK
	}()
	u := newRawUA(t, e.udp())
	u.invite("100", "", sdp)
	inv, ok := <-got
	if !ok {
		t.Fatal("no INVITE reached the agent's TCP port")
	}
	if !strings.HasPrefix(inv, "INVITE ") || !strings.Contains(inv, "SIP/2.0/TCP") {
		t.Fatalf("agent got over TCP:\n%.300s", inv)
	}
	for pt := 96; pt < 128; pt++ {
		if !strings.Contains(inv, "a=rtpmap:"+strconv.Itoa(pt)+" ") {
			t.Fatalf("the INVITE over TCP lacks payload type %d:\n%s", pt, inv)
		}
	}
	// The agent was busy: the customer waits in the queue (200 from
	// earshot) or is refused; either way it gets its final answer.
	final := u.await("final response", 10*time.Second, func(m string) bool { return status(m) >= 200 })
	if status(final) == 200 {
		u.inDialog(final, "ACK", "", "")
		u.inDialog(final, "BYE", "", "")
	}
	waitActive(t, e, 0)
}
