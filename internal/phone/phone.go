package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config describes one phone.
type Config struct {
	IP       string // local loopback address to bind, e.g. 127.0.0.3
	User     string // SIP user (extension or customer number)
	Name     string // display name
	Password string // digest password ("" for a trunk-side customer)
	Server   string // earshot SIP address host:port
	// Domain, if set, is the host of the phone's URIs (its tenant's SIP
	// domain); requests still go to Server.
	Domain string
	TCP    bool    // use TCP instead of UDP
	Tone   float64 // Hz of the tone this phone sends
	Codec  uint8   // PCMU (default) or PCMA
	// Level is the tone's level in dBFS; zero means about −10.
	Level float64
	// Loss drops this fraction of sent RTP packets at random; Jitter
	// delays each sent packet by a random 0..Jitter, which reorders them.
	// Both impair only what the phone sends.
	Loss   float64
	Jitter time.Duration
	Logger *slog.Logger
}

// Phone is a SIP user agent with one address and port.
type Phone struct {
	cfg     Config
	opts    Options
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	contact sip.ContactHeader
	pc      net.PacketConn
	ln      net.Listener
	dsc     *sipgo.DialogServerCache

	incoming chan *Incoming
	messages chan Message // received MESSAGE requests (message.go)
	requests atomic.Int64 // in-dialog requests received from earshot

	mu       sync.Mutex // guards sessions and seen
	sessions map[string]*Session
	seen     []*sip.Request
}

// New starts a phone listening on cfg.IP.
func New(cfg Config) (*Phone, error) { return NewWith(cfg, Options{}) }

// Requests is the number of in-dialog requests (re-INVITE, UPDATE, INFO,
// BYE) the phone received; a silently monitored party must see none.
func (p *Phone) Requests() int64 { return p.requests.Load() }

// InDialog returns the in-dialog requests received so far, oldest first.
func (p *Phone) InDialog() []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*sip.Request(nil), p.seen...)
}

// saw counts and keeps an in-dialog request from earshot.
func (p *Phone) saw(req *sip.Request) {
	p.requests.Add(1)
	p.mu.Lock()
	p.seen = append(p.seen, req)
	p.mu.Unlock()
}

// Close hangs nothing up; it stops every stream and the user agent.
func (p *Phone) Close() {
	p.mu.Lock()
	ss := make([]*Session, 0, len(p.sessions))
	for _, s := range p.sessions {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	for _, s := range ss {
		s.RTP.Close()
	}
	if p.pc != nil {
		p.pc.Close()
	}
	if p.ln != nil {
		p.ln.Close()
	}
	p.ua.Close()
}

func (p *Phone) transport() string {
	if p.cfg.TCP {
		return "TCP"
	}
	return "UDP"
}

func (p *Phone) serverURI(user string) sip.Uri {
	host, port := splitHostPort(p.cfg.Server)
	if p.cfg.Domain != "" {
		host, port = p.cfg.Domain, 0
	}
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	if p.cfg.TCP {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// Register registers the phone's contact with digest authentication and
// returns the final status code.
func (p *Phone) Register(ctx context.Context, expires int) (int, error) {
	req := sip.NewRequest(sip.REGISTER, p.serverURI(""))
	req.Recipient.User = ""
	to := &sip.ToHeader{Address: p.serverURI(p.cfg.User)}
	to.Address.UriParams = nil
	from := &sip.FromHeader{Address: to.Address, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(to)
	req.AppendHeader(from)
	req.AppendHeader(p.contact.Clone())
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
	req.SetTransport(p.transport())
	p.route(req)
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
		if err != nil {
			return 0, err
		}
	}
	return res.StatusCode, nil
}

func (p *Phone) sdp(port int, dir string) []byte {
	name := "PCMU"
	if p.cfg.Codec == PCMA {
		name = "PCMA"
	}
	return []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %[1]s\r\ns=-\r\nc=IN IP4 %[1]s\r\nt=0 0\r\n"+
		"m=audio %[2]d RTP/AVP %[3]d 101\r\na=rtpmap:%[3]d %[4]s/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-16\r\na=ptime:20\r\na=%[5]s\r\n", p.cfg.IP, port, p.cfg.Codec, name, dir))
}

// remoteRTP extracts the audio address of an SDP body (c= and m=audio).
func remoteRTP(body []byte) (netip.AddrPort, string, error) {
	var ip netip.Addr
	port := -1
	dir := "sendrecv"
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "c=IN IP4 "):
			a, err := netip.ParseAddr(strings.TrimPrefix(line, "c=IN IP4 "))
			if err == nil && (!ip.IsValid() || port < 0) {
				ip = a
			}
		case strings.HasPrefix(line, "m=audio ") && port < 0:
			fmt.Sscanf(line, "m=audio %d", &port)
		case line == "a=sendonly" || line == "a=recvonly" || line == "a=inactive" || line == "a=sendrecv":
			dir = strings.TrimPrefix(line, "a=")
		}
	}
	if !ip.IsValid() || port <= 0 {
		return netip.AddrPort{}, dir, errors.New("no audio address in SDP")
	}
	return netip.AddrPortFrom(ip, uint16(port)), dir, nil
}

func splitHostPort(hp string) (string, int) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	var n int
	fmt.Sscanf(p, "%d", &n)
	return h, n
}

// waitServing waits until sipgo has the UDP listener in its pool.
func waitServing(ua *sipgo.UserAgent, addr string) {
	for range 200 {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Addr is the phone's SIP address (host:port).
func (p *Phone) Addr() string {
	return net.JoinHostPort(p.cfg.IP, fmt.Sprint(p.contact.Address.Port))
}

// route sends req to Server when its URI names the Domain instead.
func (p *Phone) route(req *sip.Request) {
	if p.cfg.Domain != "" {
		req.SetDestination(p.cfg.Server)
	}
}
