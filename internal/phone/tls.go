package phone

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TLSPhone is a phone that reaches earshot over TLS (SIP over TLS on a
// sip: URI with transport=tls). It registers and takes calls; it does not
// dial. It opens one connection to earshot, verified against the roots it
// was given, and earshot's requests come back on that connection.
type TLSPhone struct {
	p *Phone
}

// NewTLS starts a TLS phone; cfg.Server is earshot's TLS address and roots
// must hold the certificate earshot presents (its IP is the name checked).
func NewTLS(cfg Config, roots *x509.CertPool, opts Options) (*TLSPhone, error) {
	cfg.TCP = false
	p, err := build(cfg, "tls", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, opts)
	if err != nil {
		return nil, err
	}
	return &TLSPhone{p: p}, nil
}

// Register registers the phone over TLS with digest authentication and
// returns the final status code.
func (t *TLSPhone) Register(ctx context.Context, expires int) (int, error) {
	p := t.p
	host, port := splitHostPort(p.cfg.Server)
	recipient := sip.Uri{Scheme: "sip", Host: host, Port: port, UriParams: sip.NewParams()}
	recipient.UriParams.Add("transport", "tls")
	req := sip.NewRequest(sip.REGISTER, recipient)
	aor := sip.Uri{Scheme: "sip", User: p.cfg.User, Host: host, Port: port}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(from)
	req.AppendHeader(p.contact.Clone())
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
	req.SetTransport("TLS")
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

// Next waits for the next incoming call.
func (t *TLSPhone) Next(ctx context.Context) (*Incoming, error) { return t.p.Next(ctx) }

// Requests is the number of in-dialog requests the phone received.
func (t *TLSPhone) Requests() int64 { return t.p.Requests() }

// Close stops every stream, the connection and the user agent.
func (t *TLSPhone) Close() { t.p.Close() }
