package phone

import (
	"context"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Message is a SIP MESSAGE (RFC 3428) the phone received.
type Message struct {
	From        string // the From URI
	To          string // the To URI
	ContentType string
	Text        string
}

// messageBuffer is how many received messages wait for a reader; past it
// the phone answers 486, as a full inbox would.
const messageBuffer = 32

// Messages yields the MESSAGE requests the phone received (answered 200),
// oldest first.
func (p *Phone) Messages() <-chan Message { return p.messages }

// NextMessage waits up to timeout for the next received message.
func (p *Phone) NextMessage(timeout time.Duration) (Message, bool) {
	select {
	case m := <-p.messages:
		return m, true
	case <-time.After(timeout):
		return Message{}, false
	}
}

func (p *Phone) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	m := Message{From: req.From().Address.String(), To: req.To().Address.String(), Text: string(req.Body())}
	if ct := req.GetHeader("Content-Type"); ct != nil {
		m.ContentType = ct.Value()
	}
	select {
	case p.messages <- m:
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	default:
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	}
}

// SendMessage sends text/plain text to user to (at earshot) as a MESSAGE,
// answering a digest challenge with the phone's credentials, and returns
// the final status code.
func (p *Phone) SendMessage(ctx context.Context, to, text string) (int, error) {
	req := sip.NewRequest(sip.MESSAGE, p.serverURI(to))
	from := &sip.FromHeader{DisplayName: p.cfg.Name, Address: p.serverURI(p.cfg.User), Params: sip.NewParams()}
	from.Address.UriParams = nil
	from.Params.Add("tag", sip.GenerateTagN(8))
	toh := &sip.ToHeader{Address: p.serverURI(to)}
	toh.Address.UriParams = nil
	req.AppendHeader(from)
	req.AppendHeader(toh)
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=utf-8"))
	req.SetBody([]byte(text))
	req.SetTransport(p.transport())
	p.route(req)
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		return 0, err
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && p.cfg.Password != "" {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
		if err != nil {
			return 0, err
		}
	}
	return res.StatusCode, nil
}
