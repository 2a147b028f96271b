package b2bua

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SIP over WebSocket (RFC 7118) reaches earshot two ways: a "ws" or "wss"
// listener of its own (endpoint.listen), and the path /sip of the HTTP
// listener, where the workspace page is served. For the latter, net/http
// reads the upgrade request, the handler below checks it and hijacks the
// connection, and the connection is handed to the SIP stack's WebSocket
// transport through a listener of its own (wsQueue) — with the request
// bytes replayed, because that transport performs the upgrade itself.
//
// A connection opened by a signed-in workspace page (its session cookie,
// from the page's own origin) is a trusted flow: requests of that
// session's user arriving on it need no digest, so the page never asks
// for a second password. Any other WebSocket client (a JsSIP or SIP.js
// phone) authenticates with digest as on UDP or TCP.

// FlowUser is the signed-in user an HTTP request to /sip comes from.
type FlowUser struct {
	Tenant, Extension string
}

// WebSocketAuth tells the /sip handler who, if anyone, is signed in on
// the request's session. It must check the session's origin rules.
type WebSocketAuth func(r *http.Request) (FlowUser, bool)

// flows are the trusted WebSocket flows, by remote address.
type flows struct {
	mu sync.Mutex
	by map[string]FlowUser
}

func (f *flows) add(addr string, u FlowUser) {
	f.mu.Lock()
	if f.by == nil {
		f.by = map[string]FlowUser{}
	}
	f.by[addr] = u
	f.mu.Unlock()
}

func (f *flows) remove(addr string) {
	f.mu.Lock()
	delete(f.by, addr)
	f.mu.Unlock()
}

// user returns the user a flow was opened for.
func (f *flows) user(addr string) (FlowUser, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.by[addr]
	return u, ok
}

// isWebSocket reports whether a transport name is SIP over WebSocket.
func isWebSocket(transport string) bool {
	return strings.EqualFold(transport, "ws") || strings.EqualFold(transport, "wss")
}

// WebSocketHandler serves SIP over WebSocket on an HTTP listener whose
// address is addr (what earshot's Contact names on that transport). auth
// may be nil: every client then authenticates with digest.
func (s *Server) WebSocketHandler(addr string, auth WebSocketAuth) (http.Handler, error) {
	q, err := s.sip.webSocketQueue(addr)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			w.Header().Set("Upgrade", "websocket")
			http.Error(w, "SIP over WebSocket (RFC 7118): upgrade to websocket with protocol sip", http.StatusUpgradeRequired)
			return
		}
		if !offersSIP(r.Header.Values("Sec-WebSocket-Protocol")) {
			http.Error(w, "the WebSocket subprotocol must be sip (RFC 7118)", http.StatusBadRequest)
			return
		}
		var user FlowUser
		trusted := false
		if auth != nil {
			user, trusted = auth(r)
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot upgrade this connection", http.StatusInternalServerError)
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			return
		}
		// The HTTP server's deadlines were for the request; the flow
		// lives as long as its registration.
		_ = conn.SetDeadline(time.Time{})
		var head bytes.Buffer
		head.WriteString("GET " + r.RequestURI + " HTTP/1.1\r\nHost: " + r.Host + "\r\n")
		_ = r.Header.Write(&head)
		head.WriteString("\r\n")
		rc := &replayConn{Conn: conn, r: io.MultiReader(&head, bufferedOf(rw.Reader))}
		addr := conn.RemoteAddr().String()
		if trusted {
			s.flows.add(addr, user)
		}
		rc.onClose = func() {
			s.flows.remove(addr)
			// A browser is reachable only over its connection: when it
			// closes (the page was closed or reloaded), so do the
			// bindings registered over it (RFC 5626 §5.4 flow failure).
			if n := s.reg.dropSource(addr); n > 0 {
				s.log.Debug("websocket flow closed", "src", addr, "bindings", n)
			}
			s.flowClosed(addr)
		}
		if !q.push(rc) {
			rc.Close()
		}
	}), nil
}

// flowClosed ends the dialogs a browser had over a WebSocket that closed:
// it cannot be reached any more (it accepts no connection), so its page
// was closed or reloaded. Each such leg ends as if the browser had sent
// BYE; a call still ringing it is left to its other forks and its timer.
func (s *Server) flowClosed(addr string) {
	byCall := map[*Call][]*leg{}
	s.dialogs.each(func(l *leg) {
		byCall[l.call] = append(byCall[l.call], l)
	})
	for c, ls := range byCall {
		c.post(func() {
			for _, l := range ls {
				if l.d.dest != addr || !isWebSocket(l.d.transport) || c.ended {
					continue
				}
				c.log.Info("browser's connection closed: its leg ends", "src", addr)
				switch {
				case l.sup != nil:
					c.detach(l.sup, SupEndHangup)
				case l == c.caller || l == c.callee:
					c.onBye(l)
				}
			}
		})
	}
}

// offersSIP reports whether a Sec-WebSocket-Protocol list names "sip".
func offersSIP(values []string) bool {
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "sip") {
				return true
			}
		}
	}
	return false
}

// bufferedOf returns what the HTTP server had read past the request.
func bufferedOf(r *bufio.Reader) io.Reader {
	if r == nil || r.Buffered() == 0 {
		return bytes.NewReader(nil)
	}
	b, _ := r.Peek(r.Buffered())
	return bytes.NewReader(bytes.Clone(b))
}

// replayConn is a hijacked connection that reads the upgrade request
// again before the bytes still to come.
type replayConn struct {
	net.Conn
	r       io.Reader
	once    sync.Once
	onClose func()
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.r != nil {
		n, err := c.r.Read(p)
		if n > 0 || !errors.Is(err, io.EOF) {
			return n, err
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) Close() error {
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.Conn.Close()
}

// wsQueue is a net.Listener whose connections come from the HTTP
// handler instead of a socket.
type wsQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (q *wsQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *wsQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *wsQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *wsQueue) Addr() net.Addr { return q.addr }

// webSocketQueue starts serving SIP over WebSocket on connections an HTTP
// server upgrades, for an HTTP listener at addr.
func (e *endpoint) webSocketQueue(addr string) (*wsQueue, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	q := &wsQueue{addr: a, ch: make(chan net.Conn), done: make(chan struct{})}
	e.serve("ws", guardListener{q, e.guard, false}, e.srv.ServeWS)
	return q, nil
}
