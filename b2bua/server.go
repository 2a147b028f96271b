package b2bua

import (
	"context"
	"crypto/tls"
	"errors"
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

// Server is earshot's SIP side: registrar, router and the live call table.
type Server struct {
	cfg   Config
	log   *slog.Logger
	dir   *directory
	reg   *registrar
	auth  *digestAuth
	stats *sipStats
	// router decides where group calls go and owns agent availability.
	router Router

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client

	mu        sync.Mutex // guards the fields below
	ports     map[string]int
	udpLocal  sip.Addr // first UDP listener, the source of UDP requests
	calls     map[string]*Call
	sups      map[string]*supervision // live supervisions by id
	legs      map[string]*leg         // by dialog key (Call-ID | our tag)
	legKeys   map[*Call][]string      // the keys filed in legs per call (legs.go)
	draining  bool
	closed    bool
	serveErrs chan error
	callsWG   sync.WaitGroup
	// bg counts the goroutines draining fire-and-forget transactions
	// (sendAndForget); bgStop ends them at Close, which waits for them.
	bg        sync.WaitGroup
	bgCtx     context.Context
	bgStop    context.CancelFunc
	listeners []net.Listener
	packets   []net.PacketConn
}

// New builds a server; Listen starts it.
func New(cfg Config) (*Server, error) {
	c := cfg.withDefaults()
	if c.Media == nil {
		return nil, errors.New("b2bua: Config.Media is required")
	}
	s := &Server{
		cfg:       c,
		log:       c.Logger.With("component", "b2bua"),
		dir:       newDirectory(c.Tenants),
		reg:       newRegistrar(c.Registration, c.Now),
		auth:      newDigestAuth(c.Now, c.DigestAlgorithms),
		stats:     newSIPStats(),
		router:    c.Router,
		ports:     map[string]int{},
		calls:     map[string]*Call{},
		sups:      map[string]*supervision{},
		legs:      map[string]*leg{},
		legKeys:   map[*Call][]string{},
		serveErrs: make(chan error, 8),
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	// sipgo logs unparseable input at error level with the whole message;
	// hostile input must not flood the log, so its records are demoted.
	sipLog := slog.New(demoted{c.Logger.Handler()}).With("component", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(c.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)))
	if err != nil {
		return nil, err
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog)); err != nil {
		return nil, err
	}
	opts := []sipgo.ClientOption{sipgo.WithClientLogger(sipLog)}
	if c.Host != "" {
		opts = append(opts, sipgo.WithClientHostname(c.Host))
	}
	if s.cli, err = sipgo.NewClient(ua, opts...); err != nil {
		return nil, err
	}
	s.srv.OnInvite(s.counted(s.onInvite))
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.counted(s.inDialog))
	s.srv.OnCancel(s.counted(s.onStrayCancel))
	s.srv.OnRegister(s.counted(s.onRegister))
	s.srv.OnOptions(s.counted(s.onOptions))
	s.srv.OnUpdate(s.counted(s.inDialog))
	s.srv.OnInfo(s.counted(s.inDialog))
	s.srv.OnPrack(s.counted(s.inDialog))
	s.srv.OnNoRoute(s.counted(func(req *sip.Request, tx sip.ServerTransaction) {
		s.respond(tx, req, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
	}))
	return s, nil
}

// udpReadBuffer is the receive buffer asked for on UDP SIP sockets. One
// goroutine reads each socket, and on a busy machine it waits for a core
// now and then; a burst must queue meanwhile, not be dropped. The default
// (about 200 KiB, some hundred SIP messages) overflows within a few
// milliseconds at a few thousand calls/s, and every lost datagram comes
// back as a retransmission, which is more load: that loop, not the CPU,
// is how overload first turned into failed calls.
const udpReadBuffer = 4 << 20

const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REGISTER"

// Listen opens the listeners and serves them in the background. The bound
// addresses (with the ports the kernel picked) are returned in order.
func (s *Server) Listen(ls []Listener) ([]string, error) {
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
			s.packets = append(s.packets, pc)
			addrs = append(addrs, pc.LocalAddr().String())
			s.setPort("udp", pc.LocalAddr())
			if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok && s.udpLocal.IP == nil {
				s.mu.Lock()
				s.udpLocal = sip.Addr{IP: ua.IP, Port: ua.Port}
				s.mu.Unlock()
			}
			go func() { s.serveErrs <- s.srv.ServeUDP(pc) }()
			waitServing(s.ua, pc.LocalAddr().String())
		case "tcp":
			ln, err := net.Listen("tcp", l.Address)
			if err != nil {
				return nil, fmt.Errorf("sip tcp listen %s: %w", l.Address, err)
			}
			s.listeners = append(s.listeners, ln)
			addrs = append(addrs, ln.Addr().String())
			s.setPort("tcp", ln.Addr())
			go func() { s.serveErrs <- s.srv.ServeTCP(ln) }()
		case "tls":
			cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("sip tls certificate: %w", err)
			}
			ln, err := tls.Listen("tcp", l.Address, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			if err != nil {
				return nil, fmt.Errorf("sip tls listen %s: %w", l.Address, err)
			}
			s.listeners = append(s.listeners, ln)
			addrs = append(addrs, ln.Addr().String())
			s.setPort("tls", ln.Addr())
			go func() { s.serveErrs <- s.srv.ServeTLS(ln) }()
		default:
			return nil, fmt.Errorf("sip listen: unsupported transport %q", l.Transport)
		}
	}
	return addrs, nil
}

func (s *Server) setPort(transport string, a net.Addr) {
	_, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(p)
	host, _, _ := net.SplitHostPort(a.String())
	s.mu.Lock()
	s.ports[transport] = n
	if s.cfg.Host == "" {
		s.cfg.Host = host
	}
	s.mu.Unlock()
}

// contact is earshot's own Contact for a transport.
func (s *Server) contact(transport string) *sip.ContactHeader {
	t := strings.ToLower(transport)
	s.mu.Lock()
	port, ok := s.ports[t]
	if !ok {
		port = s.ports["udp"]
	}
	host := s.cfg.Host
	s.mu.Unlock()
	u := sip.Uri{Scheme: "sip", User: "earshot", Host: host, Port: port, UriParams: sip.NewParams()}
	if t == "tcp" || t == "tls" {
		u.UriParams.Add("transport", t)
	}
	return &sip.ContactHeader{Address: u}
}

// Errors returns a channel that yields an error if a listener fails.
func (s *Server) Errors() <-chan error { return s.serveErrs }

// Drain stops taking new calls (503) and waits until active calls end or
// ctx is done; then it hangs up whatever is left.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.callsWG.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	s.mu.Lock()
	var left []*Call
	for _, c := range s.calls {
		left = append(left, c)
	}
	s.mu.Unlock()
	for _, c := range left {
		c.post(func() { c.hangup(EndShutdown) })
	}
	<-done
}

// Close hangs up every call and closes the transports.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Drain(ctx)
	for _, l := range s.listeners {
		l.Close()
	}
	for _, p := range s.packets {
		p.Close()
	}
	s.bgStop()
	s.bg.Wait()
	return s.ua.Close()
}

// ActiveCalls is the number of calls in the live call table.
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Calls returns snapshots of the live call table.
func (s *Server) Calls() []CallSnapshot {
	s.mu.Lock()
	cs := make([]*Call, 0, len(s.calls))
	for _, c := range s.calls {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	out := make([]CallSnapshot, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Snapshot())
	}
	return out
}

// counted wraps a handler to count the request by method. It also keeps a
// bug triggered by one hostile message from taking the process down: the
// SIP stack does not recover handler panics, so a panic becomes a 500.
func (s *Server) counted(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.stats.request(string(req.Method))
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("handler panic", "method", req.Method, "panic", r)
				s.respond(tx, req, 500, "Server Internal Error", nil)
			}
		}()
		h(req, tx)
	}
}

// respond answers a request on its transaction and counts the response.
// Every 503 carries Retry-After (RFC 3261 §21.5.4): without it a client
// may retry at once, or — a proxy in front — take the node out for good.
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if code == 503 && res.GetHeader("Retry-After") == nil {
		res.AppendHeader(s.retryAfter())
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "code", code, "err", err)
	}
	s.stats.response(code)
	return res
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 200, "OK", nil,
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", "100rel, timer"))
}

// onStrayCancel answers a CANCEL that matched no INVITE transaction.
func (s *Server) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist", nil)
}

// cancelCall hands a CANCEL to the call with this id, if it is still live.
// The INVITE transaction keeps its CANCEL callback for 32 s after the
// call (Timer L); a callback holding the *Call would keep the whole call
// (requests, legs, media session) in the heap that long, and at a few
// thousand calls/s that retained heap is what the garbage collector
// spends its time marking. The id alone keeps nothing alive.
func (s *Server) cancelCall(id string) {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c != nil {
		c.post(c.onCancel)
	}
}

func (s *Server) lookupLeg(req *sip.Request) *leg {
	k := dialogKey(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[k]
}

// onAck routes an ACK for a 2xx to its call. ACKs get no response.
func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	s.stats.request("ACK")
	l := s.lookupLeg(req)
	if l == nil {
		return
	}
	l.call.post(func() { l.call.onAck(l, req) })
}

// inDialog routes BYE, UPDATE, INFO, PRACK and re-INVITE to the call that
// owns the dialog, then waits until the call answered it: sipgo finishes
// the transaction when the handler returns.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	in := newInbound(req, tx)
	if !l.call.post(func() { l.call.onRequest(l, in) }) {
		s.stats.mailboxFull()
		s.respond(tx, req, 503, "Service Unavailable", nil)
		return
	}
	in.wait(s, l.call)
}

// waitServing waits (briefly) until sipgo has put a UDP listener into its
// connection pool, so that requests sent right after Listen leave from it.
func waitServing(ua *sipgo.UserAgent, addr string) {
	for range 200 {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// retryAfter is the Retry-After header of earshot's 503s: the configured
// delay, at least one second.
func (s *Server) retryAfter() sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(max(1, int(s.cfg.RetryAfter.Seconds()))))
}
