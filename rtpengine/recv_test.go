package rtpengine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/earshot/earshot/mixer"
)

// Many calls share the engine's few receivers: a packet sent on every
// call at once still reaches exactly its own call's other phone, both ways.
func TestManyLegsShareReceivers(t *testing.T) {
	for _, loops := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d loops", loops), func(t *testing.T) { manyLegs(t, loops) })
	}
}

func manyLegs(t *testing.T, loops int) {
	const calls = 60
	e := testEngine(t, func(c *Config) { c.PortMax, c.ReceiveLoops = c.PortMin+8*calls+1, loops }, nil)
	type pair struct {
		a, b *phone
		s    *Session
	}
	ps := make([]pair, calls)
	for i := range ps {
		ps[i].a, ps[i].b = newPhone(t), newPhone(t)
		ps[i].s = call(t, e, ps[i].a, ps[i].b, nil)
	}
	for dir := range 2 {
		for i, p := range ps {
			from, leg := p.a, 0
			if dir == 1 {
				from, leg = p.b, 1
			}
			send(t, from.rtp, earshotRTP(p.s, leg), rtpPacket(t, 0, uint16(dir+1), 160, 9, binary.BigEndian.AppendUint32(nil, uint32(i))))
		}
		for i, p := range ps {
			to := p.b
			if dir == 1 {
				to = p.a
			}
			got, _ := recv(t, to.rtp)
			if n := binary.BigEndian.Uint32(got[12:]); n != uint32(i) {
				t.Fatalf("direction %d: call %d's phone got call %d's packet", dir, i, n)
			}
		}
	}
	st := e.Stats()
	if st.RTPPacketsTo[Caller] != calls || st.RTPPacketsTo[Callee] != calls {
		t.Fatalf("sent by party %v, want %d each way", st.RTPPacketsTo, calls)
	}
}

// blast sends RTP from c to dst until stop is closed: the traffic a leg
// keeps receiving while it is being closed.
func blast(c *net.UDPConn, dst netip.AddrPort, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	for seq := uint16(0); ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		binary.BigEndian.PutUint16(pkt[2:], seq)
		c.WriteToUDPAddrPort(pkt, dst) // a closed port answers ICMP; ignore
	}
}

// Sessions, supervisor legs and callee legs close (Promote) while packets
// keep arriving on every one of their sockets; new sessions then get the
// freed descriptor numbers. Nothing deadlocks, nothing is read from a
// socket after its Close, and the new calls relay only their own packets.
func TestCloseWhilePacketsFlow(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.PortMax = c.PortMin + 399 }, nil)
	for round := range 8 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		flood := func(c *net.UDPConn, dst netip.AddrPort) {
			wg.Add(1)
			go blast(c, dst, stop, &wg)
		}
		a, b, sup := newPhone(t), newPhone(t), newTonePhone(t, mixer.CodecPCMU, 500)
		s := call(t, e, a, b, nil)
		l := supervisor(t, s, sup, nil)
		for i := range 2 {
			from := []*phone{a, b}[i]
			flood(from.rtp, earshotRTP(s, i))
			flood(from.rtcp, earshotRTCP(s, i))
		}
		flood(sup.rtp, addrPortOf(l.l))
		// The relay works under the flood: the callee sees the caller's
		// packets (and only this call's: they come from leg 1's socket).
		got, src := recv(t, b.rtp)
		if src != earshotRTP(s, 1) || len(got) != 12+160 {
			t.Fatalf("round %d: callee got %d bytes from %v", round, len(got), src)
		}
		switch round % 3 {
		case 0:
			l.Close()
			s.Close()
		case 1:
			if err := l.Promote(); err != nil {
				t.Fatal(err)
			}
			s.Close()
		default:
			s.Close() // closes the extra leg too
		}
		close(stop)
		wg.Wait()
	}
	// A call set up after all that relays exactly what its caller sends.
	a, b := newPhone(t), newPhone(t)
	s := call(t, e, a, b, nil)
	send(t, a.rtp, earshotRTP(s, 0), rtpPacket(t, 0, 1, 160, 3, []byte("after")))
	if got, src := recv(t, b.rtp); !bytes.Equal(got[12:], []byte("after")) || src != earshotRTP(s, 1) {
		t.Fatalf("new call's callee got %q from %v", got[12:], src)
	}
	if st := e.Stats(); st.SessionsActive != 1 || st.PortsInUse != 4 {
		t.Fatalf("after the closes: %d sessions, %d ports in use", st.SessionsActive, st.PortsInUse)
	}
}
