package phone

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Options are phone behaviours that New does not offer.
type Options struct {
	// AnswerUpdate answers an UPDATE that carries an SDP offer with an SDP
	// answer and follows it, as RFC 3311 requires of a real phone. Phones
	// from New answer every UPDATE with a bare 200, which only suits
	// session refreshes.
	AnswerUpdate bool
	// LateOffer makes Call send its INVITE without SDP (RFC 3261 §13.2.1):
	// the phone takes the offer from the 2xx and answers in the ACK.
	LateOffer bool
	// Offer, if not nil, is the SDP offer Call sends instead of the
	// phone's own, for a phone whose media another stack handles (a
	// WebRTC peer in the test process): Call then neither parses the
	// answer nor starts the session's stream; Session.AnswerSDP returns
	// the answer for that stack.
	Offer func() []byte
}

// NewWith starts a phone like New, with opts.
func NewWith(cfg Config, opts Options) (*Phone, error) {
	transport := "udp"
	if cfg.TCP {
		transport = "tcp"
	}
	return build(cfg, transport, nil, opts)
}

// build starts a phone on transport udp, tcp or tls. A tls phone does not
// listen: it opens a connection to earshot when it first sends, and
// earshot's requests come back on that connection (earshot reaches a phone
// at the address its REGISTER came from).
func build(cfg Config, transport string, tlsConf *tls.Config, opts Options) (*Phone, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Codec != PCMA {
		cfg.Codec = PCMU
	}
	uopts := []sipgo.UserAgentOption{sipgo.WithUserAgent("earshot-test-phone"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(cfg.Logger)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(cfg.Logger))}
	if tlsConf != nil {
		uopts = append(uopts, sipgo.WithUserAgenTLSConfig(tlsConf))
	}
	ua, err := sipgo.NewUA(uopts...)
	if err != nil {
		return nil, err
	}
	p := &Phone{cfg: cfg, opts: opts, ua: ua, incoming: make(chan *Incoming, 8), messages: make(chan Message, messageBuffer), sessions: map[string]*Session{}}
	fail := func(err error) (*Phone, error) {
		p.Close()
		return nil, err
	}
	if p.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger)); err != nil {
		return fail(err)
	}
	// Bind first, register every handler, and only then serve: a request
	// must never reach a server without its handlers.
	var port int
	switch transport {
	case "udp":
		if p.pc, err = net.ListenPacket("udp", net.JoinHostPort(cfg.IP, "0")); err != nil {
			return fail(err)
		}
		port = p.pc.LocalAddr().(*net.UDPAddr).Port
	case "tcp":
		if p.ln, err = net.Listen("tcp", net.JoinHostPort(cfg.IP, "0")); err != nil {
			return fail(err)
		}
		port = p.ln.Addr().(*net.TCPAddr).Port
	case "tls":
	default:
		return fail(fmt.Errorf("phone: unknown transport %q", transport))
	}
	copts := []sipgo.ClientOption{sipgo.WithClientHostname(cfg.IP), sipgo.WithClientLogger(cfg.Logger)}
	if port != 0 {
		copts = append(copts, sipgo.WithClientPort(port))
	}
	switch transport {
	case "udp":
		// Requests leave from the listening socket, like a real phone's.
		copts = append(copts, sipgo.WithClientConnectionAddr(net.JoinHostPort(cfg.IP, fmt.Sprint(port))))
	case "tcp":
		// Connections leave from the phone's address (any port), so a
		// trunk recognised by its source IP can call over TCP.
		copts = append(copts, sipgo.WithClientConnectionAddr(net.JoinHostPort(cfg.IP, "0")))
	}
	if p.cli, err = sipgo.NewClient(ua, copts...); err != nil {
		return fail(err)
	}
	p.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: cfg.User, Host: cfg.IP, Port: port}}
	if transport != "udp" {
		p.contact.Address.UriParams = sip.NewParams()
		p.contact.Address.UriParams.Add("transport", transport)
	}
	p.dsc = sipgo.NewDialogServerCache(p.cli, p.contact)
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dsc.ReadAck(req, tx) })
	p.srv.OnBye(p.onBye)
	p.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	p.srv.OnMessage(p.onMessage)
	p.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		p.saw(req)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	if opts.AnswerUpdate {
		p.srv.OnUpdate(p.onUpdateOffer)
	} else {
		p.srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) {
			p.saw(req)
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})
	}
	switch transport {
	case "udp":
		go p.srv.ServeUDP(p.pc)
		waitServing(ua, p.pc.LocalAddr().String())
	case "tcp":
		go p.srv.ServeTCP(p.ln)
	}
	return p, nil
}
