package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/icholy/digest"
)

// wsClient is a SIP-over-WebSocket client (RFC 7118) with hand-written
// messages, as a JsSIP or SIP.js phone speaks it.
type wsClient struct {
	t    *testing.T
	conn net.Conn
	host string // the .invalid host of its Via and Contact
	seq  int
}

// dialWS opens a WebSocket to earshot's /sip with the given headers
// (a session cookie, an Origin).
func dialWS(t *testing.T, e *env, h http.Header) *wsClient {
	t.Helper()
	return dialWSURL(t, "ws://"+e.app.HTTPAddr+"/sip", h)
}

// dialWSURL opens a SIP WebSocket to url.
func dialWSURL(t *testing.T, url string, h http.Header) *wsClient {
	t.Helper()
	d := ws.Dialer{Protocols: []string{"sip"}, Header: ws.HandshakeHeaderHTTP(h), Timeout: 3 * time.Second}
	conn, _, hs, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	if hs.Protocol != "sip" {
		t.Fatalf("subprotocol %q, want sip", hs.Protocol)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn, host: fmt.Sprintf("c%d.invalid", time.Now().UnixNano()%1e6)}
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		c.t.Fatalf("websocket write: %v", err)
	}
}

// read returns the next SIP message earshot sends, within d.
func (c *wsClient) read(d time.Duration) string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	b, err := wsutil.ReadServerText(c.conn)
	if err != nil {
		c.t.Fatalf("websocket read: %v", err)
	}
	return string(b)
}

// register sends a REGISTER for ext (with authorization, if set) and
// returns earshot's final response.
func (c *wsClient) register(ext, authorization string, expires int) string {
	c.t.Helper()
	c.seq++
	auth := ""
	if authorization != "" {
		auth = "Authorization: " + authorization + "\r\n"
	}
	c.send(fmt.Sprintf("REGISTER sip:demo SIP/2.0\r\nVia: SIP/2.0/WSS %[1]s;branch=z9hG4bK-ws%[3]d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:%[2]s@demo>;tag=ws1\r\nTo: <sip:%[2]s@demo>\r\nCall-ID: ws-%[1]s\r\nCSeq: %[3]d REGISTER\r\n"+
		"Contact: <sip:x@%[1]s;transport=ws>;+sip.ice\r\nExpires: %[4]d\r\n%[5]sContent-Length: 0\r\n\r\n", c.host, ext, c.seq, expires, auth))
	for {
		res := c.read(3 * time.Second)
		if !strings.HasPrefix(res, "SIP/2.0 1") {
			return res
		}
	}
}

// webSession signs ext in to the workspace and returns its cookie.
func webSession(t *testing.T, e *env, ext string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	base := "http://" + e.app.HTTPAddr
	res, err := c.Post(base+"/auth/login", "application/json", strings.NewReader(`{"user":"`+ext+`","password":"demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var me struct {
		SIPDomain string `json:"sip_domain"`
	}
	if err := json.NewDecoder(res.Body).Decode(&me); res.StatusCode != 200 || err != nil || me.SIPDomain == "" {
		t.Fatalf("sign-in: %d %v %+v", res.StatusCode, err, me)
	}
	u, _ := url.Parse(base)
	cs := jar.Cookies(u)
	if len(cs) != 1 {
		t.Fatalf("cookies %v", cs)
	}
	return cs[0].Name + "=" + cs[0].Value
}

func TestSIPOverWebSocket(t *testing.T) {
	e := start(t, testConfig(t))
	origin := "http://" + e.app.HTTPAddr

	// Not an upgrade: told how to speak to /sip.
	res, err := http.Get(origin + "/sip")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(b), "RFC 7118") {
		t.Errorf("GET /sip without upgrade: %d %q", res.StatusCode, b)
	}

	// A phone with no session (JsSIP, SIP.js): digest, as on UDP.
	c := dialWS(t, e, nil)
	res1 := c.register("1001", "", 600)
	if !strings.HasPrefix(res1, "SIP/2.0 401") {
		t.Fatalf("REGISTER without credentials:\n%s", res1)
	}
	chal, err := digest.ParseChallenge(header(res1, "WWW-Authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:demo", Username: "1001", Password: "wrong", Count: 1, Cnonce: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if res := c.register("1001", cred.String(), 600); !strings.HasPrefix(res, "SIP/2.0 403") {
		t.Fatalf("REGISTER with a wrong password:\n%s", res)
	}
	res1 = c.register("1001", "", 600)
	chal, _ = digest.ParseChallenge(header(res1, "WWW-Authenticate"))
	cred, _ = digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:demo", Username: "1001", Password: "demo", Count: 1, Cnonce: "abc"})
	if res := c.register("1001", cred.String(), 600); !strings.HasPrefix(res, "SIP/2.0 200") || !strings.Contains(res, "transport=ws") {
		t.Fatalf("REGISTER with digest:\n%s", res)
	}
	if !e.app.SIP.Registered("demo", "1001") {
		t.Fatal("1001 not registered")
	}
	// OPTIONS on the flow.
	c.send("OPTIONS sip:demo SIP/2.0\r\nVia: SIP/2.0/WSS " + c.host + ";branch=z9hG4bK-opt\r\nMax-Forwards: 70\r\n" +
		"From: <sip:1001@demo>;tag=o1\r\nTo: <sip:demo>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	if res := c.read(3 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200") || header(res, "Call-ID") != "opt-1" {
		t.Errorf("OPTIONS over WebSocket:\n%s", res)
	}
	// The page closes: its bindings go with the connection.
	c.conn.Close()
	waitFor(t, "1001's binding dropped with its connection", func() bool { return !e.app.SIP.Registered("demo", "1001") })

	// A signed-in page of earshot's own origin: no password asked, for
	// its own user only.
	cookie := webSession(t, e, "2001")
	page := dialWS(t, e, http.Header{"Cookie": {cookie}, "Origin": {origin}})
	if res := page.register("2001", "", 600); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("REGISTER from the signed-in page:\n%s", res)
	}
	if !e.app.SIP.Registered("demo", "2001") {
		t.Fatal("2001 not registered")
	}
	if res := page.register("1002", "", 600); !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Errorf("the page registering another user:\n%s", res)
	}
	// Another site's page with the same cookie (cross-site WebSocket
	// hijacking) gets no trust.
	other := dialWS(t, e, http.Header{"Cookie": {cookie}, "Origin": {"http://attacker.example"}})
	if res := other.register("2001", "", 600); !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Errorf("a foreign origin with the session cookie:\n%s", res)
	}
	// Nor does a cookie without an Origin (not a browser's page).
	bare := dialWS(t, e, http.Header{"Cookie": {cookie}})
	if res := bare.register("2001", "", 600); !strings.HasPrefix(res, "SIP/2.0 401") {
		t.Errorf("the session cookie without an Origin:\n%s", res)
	}
}
