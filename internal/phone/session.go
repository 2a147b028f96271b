package phone

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Session is one call of a phone.
type Session struct {
	p      *Phone
	RTP    *Stream
	callID string
	cs     *sipgo.DialogClientSession
	ss     *sipgo.DialogServerSession
	answer []byte // the SDP answer of a call placed with Options.Offer

	ended   chan struct{}
	endOnce sync.Once
}

// StatusError is a call that failed with a SIP status.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("call failed: %d", e.Code) }

func (p *Phone) newSession(callID string) (*Session, error) {
	st, err := newStream(p.cfg.IP, p.cfg.Codec, p.cfg.Tone)
	if err != nil {
		return nil, err
	}
	if p.cfg.Level != 0 {
		st.amp = math.Pow(10, p.cfg.Level/20)
	}
	st.loss, st.jitter = p.cfg.Loss, p.cfg.Jitter
	s := &Session{p: p, RTP: st, callID: callID, ended: make(chan struct{})}
	p.mu.Lock()
	p.sessions[callID] = s
	p.mu.Unlock()
	return s, nil
}

func (s *Session) end() {
	s.endOnce.Do(func() {
		close(s.ended)
		s.RTP.Close()
		s.p.mu.Lock()
		delete(s.p.sessions, s.callID)
		s.p.mu.Unlock()
	})
}

// AnswerSDP is the SDP answer to a call placed with Options.Offer.
func (s *Session) AnswerSDP() []byte { return s.answer }

// Ended is closed when the call ends (BYE either way).
func (s *Session) Ended() <-chan struct{} { return s.ended }

// Call dials number at earshot, answering a digest challenge with the
// phone's password, and returns once the call is answered (and ACKed).
func (p *Phone) Call(ctx context.Context, number string, hdrs ...sip.Header) (*Session, error) {
	callID := sip.GenerateTagN(20)
	s, err := p.newSession(callID)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, p.serverURI(number))
	from := &sip.FromHeader{DisplayName: p.cfg.Name, Address: p.serverURI(p.cfg.User), Params: sip.NewParams()}
	from.Address.UriParams = nil
	from.Params.Add("tag", sip.GenerateTagN(8))
	to := &sip.ToHeader{Address: p.serverURI(number)}
	to.Address.UriParams = nil
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(p.contact.Clone())
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	switch {
	case p.opts.Offer != nil:
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(p.opts.Offer())
	case !p.opts.LateOffer:
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(p.sdp(s.RTP.Port(), "sendrecv"))
	}
	req.SetTransport(p.transport())
	p.route(req)
	dua := sipgo.DialogUA{Client: p.cli, ContactHDR: p.contact}
	cs, err := dua.WriteInvite(ctx, req)
	if err != nil {
		s.end()
		return nil, err
	}
	s.cs = cs
	err = cs.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.cfg.User, Password: p.cfg.Password})
	if err != nil {
		s.end()
		var re *sipgo.ErrDialogResponse
		if ok := asDialogResponse(err, &re); ok {
			return nil, &StatusError{Code: re.Res.StatusCode}
		}
		return nil, err
	}
	if p.opts.Offer != nil {
		s.answer = append([]byte(nil), cs.InviteResponse.Body()...)
		if err := cs.Ack(ctx); err != nil {
			s.end()
			return nil, err
		}
		return s, nil
	}
	dest, _, err := remoteRTP(cs.InviteResponse.Body())
	if err != nil {
		s.end()
		return nil, err
	}
	if p.opts.LateOffer {
		// The 2xx carried the offer; the ACK carries the answer.
		ack := sip.NewRequest(sip.ACK, cs.InviteRequest.Recipient)
		if c := cs.InviteResponse.Contact(); c != nil {
			ack.Recipient = c.Address
		}
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(p.sdp(s.RTP.Port(), "sendrecv"))
		err = cs.WriteAck(ctx, ack)
	} else {
		err = cs.Ack(ctx)
	}
	if err != nil {
		s.end()
		return nil, err
	}
	s.RTP.SetDest(dest)
	s.RTP.start()
	return s, nil
}

func asDialogResponse(err error, target **sipgo.ErrDialogResponse) bool {
	for e := err; e != nil; {
		if r, ok := e.(*sipgo.ErrDialogResponse); ok {
			*target = r
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// Hangup sends BYE.
func (s *Session) Hangup(ctx context.Context) error {
	defer s.end()
	if s.cs != nil {
		return s.cs.Bye(ctx)
	}
	return s.ss.Bye(ctx)
}

// Reinvite sends a re-INVITE with direction dir (sendrecv, sendonly,
// recvonly, inactive) and returns the status: a hold (sendonly) or a
// resume, from either side of the call.
func (s *Session) Reinvite(ctx context.Context, dir string) (int, error) {
	var (
		req   *sip.Request
		do    func(context.Context, *sip.Request) (*sip.Response, error)
		write func(*sip.Request) error
	)
	switch {
	case s.cs != nil:
		req = sip.NewRequest(sip.INVITE, s.cs.InviteResponse.Contact().Address)
		do, write = s.cs.Do, s.cs.WriteRequest
	case s.ss != nil && s.ss.InviteRequest.Contact() != nil:
		req = sip.NewRequest(sip.INVITE, s.ss.InviteRequest.Contact().Address)
		do, write = s.ss.Do, s.ss.WriteRequest
	default:
		return 0, fmt.Errorf("no dialog to re-INVITE on")
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(s.p.sdp(s.RTP.Port(), dir))
	res, err := do(ctx, req)
	if err != nil {
		return 0, err
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, req.Recipient)
		if err := write(ack); err != nil {
			return res.StatusCode, err
		}
		if dest, _, err := remoteRTP(res.Body()); err == nil {
			s.RTP.SetDest(dest)
		}
	}
	s.RTP.Mute(dir == "sendonly" || dir == "inactive")
	return res.StatusCode, nil
}

// Incoming is a call ringing the phone.
type Incoming struct {
	p        *Phone
	Req      *sip.Request
	dss      *sipgo.DialogServerSession
	done     chan struct{}
	once     sync.Once
	canceled chan struct{}
	early    *Session // started by Progress
}

// Incoming delivers calls that ring this phone.
func (p *Phone) Incoming() <-chan *Incoming { return p.incoming }

// Next waits for the next incoming call.
func (p *Phone) Next(ctx context.Context) (*Incoming, error) {
	select {
	case in := <-p.incoming:
		return in, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			p.onReinvite(req, tx)
			return
		}
	}
	dss, err := p.dsc.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	in := &Incoming{p: p, Req: req, dss: dss, done: make(chan struct{}), canceled: make(chan struct{})}
	tx.OnCancel(func(*sip.Request) { close(in.canceled); in.finish() })
	select {
	case p.incoming <- in:
	default:
		_ = dss.Respond(486, "Busy Here", nil)
		return
	}
	select {
	case <-in.done:
	case <-tx.Done():
	}
}

func (in *Incoming) finish() { in.once.Do(func() { close(in.done) }) }

// Canceled is closed if the caller canceled while ringing.
func (in *Incoming) Canceled() <-chan struct{} { return in.canceled }

// Ring sends 180 Ringing.
func (in *Incoming) Ring() error { return in.dss.Respond(180, "Ringing", nil) }

// Reject answers with an error status.
func (in *Incoming) Reject(code int, reason string) error {
	defer in.finish()
	return in.dss.Respond(code, reason, nil)
}

// Answer answers with SDP and starts RTP.
func (in *Incoming) Answer() (*Session, error) { return in.AnswerWith() }

// Progress sends 183 Session Progress with the phone's SDP answer and
// starts its RTP (early media). Answer then answers with the same SDP.
func (in *Incoming) Progress() error {
	s, err := in.start()
	if err != nil {
		return err
	}
	hdr := sip.NewHeader("Content-Type", "application/sdp")
	return in.dss.Respond(183, "Session Progress", in.p.sdp(s.RTP.Port(), "sendrecv"), hdr)
}

// start creates the call's session and RTP once, for Progress or Answer.
func (in *Incoming) start() (*Session, error) {
	if in.early != nil {
		return in.early, nil
	}
	s, err := in.p.newSession(in.Req.CallID().Value())
	if err != nil {
		return nil, err
	}
	s.ss = in.dss
	dest, _, err := remoteRTP(in.Req.Body())
	if err != nil {
		_ = in.dss.Respond(488, "Not Acceptable Here", nil)
		s.end()
		return nil, err
	}
	s.RTP.SetDest(dest)
	s.RTP.start()
	in.early = s
	return s, nil
}

// AnswerWith answers like Answer, adding hdrs to the 200.
func (in *Incoming) AnswerWith(hdrs ...sip.Header) (*Session, error) {
	defer in.finish()
	s, err := in.start()
	if err != nil {
		return nil, err
	}
	hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	if err := in.dss.Respond(200, "OK", in.p.sdp(s.RTP.Port(), "sendrecv"), hdrs...); err != nil {
		s.end()
		return nil, err
	}
	return s, nil
}

func (p *Phone) session(req *sip.Request) *Session {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[cid.Value()]
}

func (p *Phone) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	p.saw(req)
	s := p.session(req)
	if s == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	dir := "sendrecv"
	if dest, offered, err := remoteRTP(req.Body()); err == nil {
		s.RTP.SetDest(dest)
		switch offered {
		case "sendonly":
			dir = "recvonly"
		case "recvonly":
			dir = "sendonly"
		case "inactive":
			dir = "inactive"
		}
	}
	res := sip.NewSDPResponseFromRequest(req, p.sdp(s.RTP.Port(), dir))
	res.AppendHeader(p.contact.Clone())
	_ = tx.Respond(res)
	// Wait briefly for the ACK so the transaction is not torn down early.
	select {
	case <-tx.Acks():
	case <-tx.Done():
	case <-time.After(2 * time.Second):
	}
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	p.saw(req)
	s := p.session(req)
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if s != nil {
		s.end()
	}
}

// DialogIDs returns the Call-ID and the From and To tags of a call of this
// phone, as they appear on the requests it sends inside the dialog (for a
// call it answered, its own tag is the From tag). Tests use them to send
// requests a phone of this package does not: REFER, or forged ones.
func (s *Session) DialogIDs() (callID, fromTag, toTag string) {
	switch {
	case s.cs != nil:
		fromTag, _ = s.cs.InviteRequest.From().Params.Get("tag")
		toTag, _ = s.cs.InviteResponse.To().Params.Get("tag")
	case s.ss != nil && s.ss.InviteResponse != nil:
		fromTag, _ = s.ss.InviteResponse.To().Params.Get("tag")
		toTag, _ = s.ss.InviteRequest.From().Params.Get("tag")
	}
	return s.callID, fromTag, toTag
}

// RemoteContact is the Contact of the other side of a call this phone
// answered: where its requests inside the dialog go.
func (s *Session) RemoteContact() string {
	if s.ss == nil {
		return ""
	}
	if c := s.ss.InviteRequest.Contact(); c != nil {
		return c.Address.String()
	}
	return ""
}
