package phone

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// Update sends an in-dialog UPDATE (RFC 3311) carrying an SDP offer with
// direction dir (sendrecv, sendonly, recvonly, inactive) from either side of
// the call and returns the final status. On success the phone follows the
// answer's address; like Reinvite, it stops sending while it offers
// sendonly or inactive.
func (s *Session) Update(ctx context.Context, dir string) (int, error) {
	var (
		res *sip.Response
		err error
	)
	req := func(target sip.Uri) *sip.Request {
		r := sip.NewRequest(sip.UPDATE, target)
		r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		r.SetBody(s.p.sdp(s.RTP.Port(), dir))
		return r
	}
	switch {
	case s.cs != nil:
		res, err = s.cs.Do(ctx, req(s.cs.InviteResponse.Contact().Address))
	case s.ss != nil:
		res, err = s.ss.Do(ctx, req(s.ss.InviteRequest.Contact().Address))
	default:
		return 0, fmt.Errorf("UPDATE outside a dialog")
	}
	if err != nil {
		return 0, err
	}
	if res.IsSuccess() {
		dest, _, err := remoteRTP(res.Body())
		if err != nil {
			return res.StatusCode, fmt.Errorf("2xx to an UPDATE offer without an SDP answer: %w", err)
		}
		s.RTP.SetDest(dest)
		s.RTP.Mute(dir == "sendonly" || dir == "inactive")
	}
	return res.StatusCode, nil
}

// onUpdateOffer answers an UPDATE: with an SDP answer when it carries an
// offer (RFC 3311 §5.2 requires the answer in the 2xx), with a bare 200
// when it only refreshes the session.
func (p *Phone) onUpdateOffer(req *sip.Request, tx sip.ServerTransaction) {
	p.saw(req)
	s := p.session(req)
	if s == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if len(req.Body()) == 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		return
	}
	dest, offered, err := remoteRTP(req.Body())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	s.RTP.SetDest(dest)
	res := sip.NewSDPResponseFromRequest(req, p.sdp(s.RTP.Port(), answerDirection(offered)))
	res.AppendHeader(p.contact.Clone())
	_ = tx.Respond(res)
}

// answerDirection is the direction that answers an offered one (RFC 3264 §6.1).
func answerDirection(offered string) string {
	switch offered {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// RejectWith answers a ringing call with an error status and extra headers,
// such as the WWW-Authenticate or Proxy-Authenticate of a digest challenge
// a carrier sends.
func (in *Incoming) RejectWith(code int, reason string, hdrs ...sip.Header) error {
	defer in.finish()
	return in.dss.Respond(code, reason, nil, hdrs...)
}
