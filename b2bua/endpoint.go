package b2bua

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Listener is a SIP transport endpoint to serve on.
type Listener struct {
	Transport string // "udp", "tcp" or "tls"
	Address   string // host:port; port 0 picks a free one
	CertFile  string // tls only
	KeyFile   string // tls only
}

// udpReadBuffer is the receive buffer asked for on UDP SIP sockets. One
// goroutine reads each socket, and on a busy machine it waits for a core
// now and then; a burst must queue meanwhile, not be dropped. The default
// (about 200 KiB, some hundred SIP messages) overflows within a few
// milliseconds at a few thousand calls/s, and every lost datagram comes
// back as a retransmission, which is more load: that loop, not the CPU,
// is how overload first turned into failed calls.
const udpReadBuffer = 4 << 20

// endpoint is earshot's presence on the SIP network: the sipgo stack, the
// sockets it serves, and the address earshot writes into its own Contact
// and sends UDP requests from. The Server routes what arrives; the
// endpoint only carries it.
type endpoint struct {
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	cli       *sipgo.Client
	serveErrs chan error // a listener's Serve error
	guard     *guard     // filters what the sockets read (guard.go)

	mu        sync.Mutex // guards the fields below
	host      string     // advertised host: configured, or the first listener's
	ports     map[string]int
	contacts  map[string]*sip.ContactHeader // contact's answers, built once per transport
	udpLocal  sip.Addr                      // first UDP listener, the source of UDP requests
	listeners []net.Listener
	packets   []net.PacketConn
}

// newEndpoint builds the sipgo stack. host is the configured advertised
// address ("" takes the first listener's); sipgo logs to log; stray gets
// the responses that match no client transaction (sipgo's own default
// logs each at info on the process's default logger, whatever earshot's
// log settings).
func newEndpoint(userAgent, host string, log *slog.Logger, g *guard, stray func(*sip.Response)) (*endpoint, error) {
	e := &endpoint{host: host, ports: map[string]int{}, serveErrs: make(chan error, 8), guard: g}
	var err error
	e.ua, err = sipgo.NewUA(sipgo.WithUserAgent(userAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log),
			sip.WithTransportLayerReadFilter(g.readFilter)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(stray)))
	if err != nil {
		return nil, err
	}
	if e.srv, err = sipgo.NewServer(e.ua, sipgo.WithServerLogger(log)); err != nil {
		return nil, err
	}
	opts := []sipgo.ClientOption{sipgo.WithClientLogger(log)}
	if host != "" {
		opts = append(opts, sipgo.WithClientHostname(host))
	}
	if e.cli, err = sipgo.NewClient(e.ua, opts...); err != nil {
		return nil, err
	}
	return e, nil
}

// listen opens the listeners and serves them in the background. The bound
// addresses (with the ports the kernel picked) are returned in order.
func (e *endpoint) listen(ls []Listener) ([]string, error) {
	var addrs []string
	for _, l := range ls {
		switch strings.ToLower(l.Transport) {
		case "udp":
			pc, err := net.ListenPacket("udp", l.Address)
			if err != nil {
				return nil, fmt.Errorf("sip udp listen %s: %w", l.Address, err)
			}
			if uc, ok := pc.(*net.UDPConn); ok {
				// Best effort: the kernel caps it at net.core.rmem_max.
				_ = uc.SetReadBuffer(udpReadBuffer)
			}
			e.bound("udp", pc.LocalAddr())
			e.mu.Lock()
			e.packets = append(e.packets, pc)
			if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok && e.udpLocal.IP == nil {
				e.udpLocal = sip.Addr{IP: ua.IP, Port: ua.Port}
			}
			e.mu.Unlock()
			addrs = append(addrs, pc.LocalAddr().String())
			// Final responses are recorded as they leave (answered.go).
			var served net.PacketConn = pc
			if uc, ok := pc.(*net.UDPConn); ok && e.guard.watch != nil {
				// Each read tells the overload watch how long its datagram
				// waited (overload.go).
				if stampArrivals(uc) {
					served = &stampingConn{UDPConn: uc, watch: e.guard.watch, oob: make([]byte, stampSpace)}
				} else {
					e.guard.log.Warn("no receive timestamps on this system: new calls are not refused when SIP input falls behind", "listener", pc.LocalAddr().String())
				}
			}
			if e.guard.answers != nil {
				served = answeringConn{served, e.guard.answers}
			}
			go func() { e.serveErrs <- e.srv.ServeUDP(served) }()
			e.waitServing(pc.LocalAddr().String())
		case "tcp":
			ln, err := net.Listen("tcp", l.Address)
			if err != nil {
				return nil, fmt.Errorf("sip tcp listen %s: %w", l.Address, err)
			}
			e.serve("tcp", guardListener{e.timed(ln), e.guard, true}, e.srv.ServeTCP)
			addrs = append(addrs, ln.Addr().String())
		case "ws":
			// SIP over WebSocket (RFC 7118) on a port of its own; the
			// HTTP listener's /sip is the other way in (websocket.go).
			ln, err := net.Listen("tcp", l.Address)
			if err != nil {
				return nil, fmt.Errorf("sip ws listen %s: %w", l.Address, err)
			}
			e.serve("ws", guardListener{e.timed(ln), e.guard, false}, e.srv.ServeWS)
			addrs = append(addrs, ln.Addr().String())
		case "tls", "wss":
			t := strings.ToLower(l.Transport)
			cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("sip %s certificate: %w", t, err)
			}
			raw, err := net.Listen("tcp", l.Address)
			if err != nil {
				return nil, fmt.Errorf("sip %s listen %s: %w", t, l.Address, err)
			}
			// The guard reads decrypted bytes: it wraps the TLS listener.
			ln := tls.NewListener(e.timed(raw), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			serve := e.srv.ServeTLS
			if t == "wss" {
				serve = e.srv.ServeWS // the TLS listener decrypts; the WebSocket framing is the same
			}
			e.serve(t, guardListener{ln, e.guard, t == "tls"}, serve)
			addrs = append(addrs, ln.Addr().String())
		default:
			return nil, fmt.Errorf("sip listen: unsupported transport %q", l.Transport)
		}
	}
	return addrs, nil
}

// timed has the kernel stamp what arrives on a stream listener's
// connections, for the overload watch (stamps_linux.go), as on the UDP
// sockets; ln itself where the system cannot.
func (e *endpoint) timed(ln net.Listener) net.Listener {
	if e.guard.watch == nil {
		return ln
	}
	tl, ok := stampStreams(ln, e.guard.watch)
	if !ok {
		e.guard.log.Warn("no receive timestamps on this system: new calls are not refused when SIP input falls behind", "listener", ln.Addr().String())
	}
	return tl
}

// serve files a stream listener and serves it in the background.
func (e *endpoint) serve(transport string, ln net.Listener, serve func(net.Listener) error) {
	e.bound(transport, ln.Addr())
	e.mu.Lock()
	e.listeners = append(e.listeners, ln)
	e.mu.Unlock()
	go func() { e.serveErrs <- serve(ln) }()
}

// bound records the port a transport listens on; the first listener's
// host becomes the advertised one if none was configured.
func (e *endpoint) bound(transport string, a net.Addr) {
	host, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(p)
	e.mu.Lock()
	e.ports[transport] = n
	if e.host == "" {
		e.host = host
	}
	clear(e.contacts) // built afresh with this port
	e.mu.Unlock()
}

// contact is earshot's own Contact for a transport. One header per
// transport is shared by every message earshot builds (each request and
// answer carried a fresh one, five allocations and ~0.9 KB, several per
// call): neither earshot nor the SIP stack writes a message's Contact
// once it is added, and reading it from many goroutines is safe.
func (e *endpoint) contact(transport string) *sip.ContactHeader {
	t := strings.ToLower(transport)
	e.mu.Lock()
	defer e.mu.Unlock()
	if h := e.contacts[t]; h != nil {
		return h
	}
	port, ok := e.ports[t]
	if !ok {
		port = e.ports["udp"]
	}
	u := sip.Uri{Scheme: "sip", User: "earshot", Host: e.host, Port: port, UriParams: sip.NewParams()}
	if t != "udp" {
		u.UriParams.Add("transport", t)
	}
	h := &sip.ContactHeader{Address: u}
	if e.contacts == nil {
		e.contacts = map[string]*sip.ContactHeader{}
	}
	e.contacts[t] = h
	return h
}

// bindLocal makes a UDP request leave from earshot's listening socket, so
// that peers see one signalling address and NAT bindings stay open.
func (e *endpoint) bindLocal(req *sip.Request) {
	if !strings.EqualFold(req.Transport(), "udp") {
		return
	}
	if tooLargeForUDP(req) {
		// RFC 3261 §18.1.1: a request larger than 1300 bytes (path MTU
		// unknown) goes over a congestion-controlled transport. sipgo
		// refuses to send such a datagram; the peer's TCP port is the
		// same as its UDP one. A CANCEL takes its INVITE's transport.
		req.SetTransport("TCP")
		return
	}
	e.mu.Lock()
	a := e.udpLocal
	e.mu.Unlock()
	if a.IP != nil {
		req.Laddr = a
	}
}

// waitServing waits (briefly) until sipgo has put a UDP listener into its
// connection pool, so that requests sent right after Listen leave from it.
func (e *endpoint) waitServing(addr string) {
	for range 200 {
		if c, err := e.ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// close closes the sockets and the stack.
func (e *endpoint) close() error {
	e.mu.Lock()
	ls, ps := e.listeners, e.packets
	e.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, p := range ps {
		p.Close()
	}
	return e.ua.Close()
}

// A response goes back over the transport its request came on, whatever
// its size (RFC 3261 §18.2.2; the MTU rule of §18.1.1 is for requests,
// and bindLocal moves earshot's large requests to TCP itself). sipgo
// checks every datagram against its MTU setting and drops a larger
// response unsent — the 403 to a request carrying many long Vias, say
// (RFC 4475 §3.1.1.6) — so the setting is raised to what a UDP datagram
// over IPv4 can carry (65,507 bytes; sipgo keeps 200 in reserve).
func init() { sip.UDPMTUSize = 65507 + 200 }

// udpRequestLimit is the largest request sent over UDP (RFC 3261 §18.1.1,
// path MTU unknown).
const udpRequestLimit = 1300

// tooLargeForUDP reports whether req is larger than udpRequestLimit. Only
// a request with a sizeable body can be: the headers earshot writes stay
// far below the limit, so most requests are never serialised for this.
func tooLargeForUDP(req *sip.Request) bool {
	if len(req.Body()) < udpRequestLimit/3 {
		return false
	}
	var n countWriter
	req.StringWrite(&n)
	return int(n) > udpRequestLimit
}

// countWriter counts what is written to it.
type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func (c *countWriter) WriteString(s string) (int, error) {
	*c += countWriter(len(s))
	return len(s), nil
}

// packetConn returns earshot's UDP socket bound to local, nil if none.
func (e *endpoint) packetConn(local net.Addr) net.PacketConn {
	if local == nil {
		return nil
	}
	// UDP addresses compare as values: a refusal while behind looks its
	// socket up (Server.refuseUnparsed), and strings would allocate.
	want := addrPort(local)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, pc := range e.packets {
		if have := pc.LocalAddr(); want.IsValid() {
			if addrPort(have) == want {
				return pc
			}
		} else if have.String() == local.String() {
			return pc
		}
	}
	return nil
}
