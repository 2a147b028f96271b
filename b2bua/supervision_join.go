package b2bua

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// featureCode splits a dialled number into a supervision mode and the
// agent's extension; the longest matching code wins.
func (s *Server) featureCode(num string) (Mode, string, bool) {
	fc := s.cfg.FeatureCodes
	best, mode := "", Mode("")
	for _, c := range []struct {
		code string
		m    Mode
	}{{fc.Listen, ModeListen}, {fc.Whisper, ModeWhisper}, {fc.Barge, ModeBarge}, {fc.Intercept, ModeIntercept}} {
		if c.code != "" && strings.HasPrefix(num, c.code) && len(c.code) > len(best) {
			best, mode = c.code, c.m
		}
	}
	if best == "" || len(num) == len(best) {
		return "", "", false
	}
	return mode, num[len(best):], true
}

// classifyFeature routes an authenticated user's call to a feature code.
func (s *Server) classifyFeature(rt route, u *User) (route, int, string) {
	mode, agent, ok := s.featureCode(rt.number)
	if !ok {
		return route{}, 404, "Feature Code Not Available"
	}
	refused := SupervisionSnapshot{Tenant: rt.tenant.name, Supervisor: u.Extension, Agent: agent, Mode: mode, Via: ViaFeatureCode}
	if err := checkSupervisor(u, mode); err != nil {
		s.refuse(refused, mode, err.Error())
		if errors.Is(err, ErrModeNotAllowed) {
			return route{}, 403, "Mode Not Allowed"
		}
		return route{}, 403, "Supervisors Only"
	}
	if _, ok := rt.tenant.users[agent]; !ok {
		s.refuse(refused, mode, "no such agent")
		return route{}, 404, "No Such Agent"
	}
	rt.kind, rt.mode, rt.user = toSupervise, mode, agent
	return rt, 0, ""
}

// supStatus is the SIP answer to a supervision that cannot start.
func supStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNoActiveCall):
		return 404, "No Active Call For Agent"
	case errors.Is(err, ErrCallNotFound):
		return 404, "Call Ended"
	case errors.Is(err, ErrCallNotAnswered):
		return 480, "Agent Call Not Answered"
	case errors.Is(err, ErrAlreadySupervised):
		return 486, "Already Supervising This Call"
	case errors.Is(err, ErrNotMixable):
		return 488, "Call Codec Not Supervisable"
	case errors.Is(err, ErrOtherAgent):
		return 486, "Call Supervised For Its Other Agent"
	}
	code := statusOf(err, 500)
	return code, reasonPhrase(code)
}

// dialIn attaches a supervisor who dialled a feature code to the agent's
// call. The SIP handler goroutine waits here until the INVITE is answered.
func (s *Server) dialIn(rt route, req *sip.Request, tx sip.ServerTransaction) {
	u := rt.tenant.users[rt.callerExt]
	refused := SupervisionSnapshot{Tenant: rt.tenant.name, Supervisor: u.Extension, Agent: rt.user, Mode: rt.mode, Via: ViaFeatureCode}
	c, err := s.agentCall(rt.tenant.name, rt.user)
	if err != nil {
		s.refuse(refused, rt.mode, err.Error())
		code, phrase := supStatus(err)
		s.respond(tx, req, code, phrase, nil)
		return
	}
	tag := sip.GenerateTagN(16)
	tagged := req.Clone()
	tagged.To().Params.Add("tag", tag)
	in := newInbound(tagged, tx)
	err = c.do(func() error {
		if err := c.supervisable(u, rt.user, rt.mode); err != nil {
			return err
		}
		sup := s.newSupervision(c, u, rt.mode, ViaFeatureCode)
		if err := c.answerDialIn(sup, in, tag); err != nil {
			s.forgetSupervision(sup)
			return err
		}
		return nil
	})
	if err != nil {
		refused.CallID = c.id
		s.refuse(refused, rt.mode, err.Error())
		code, phrase := supStatus(err)
		s.respond(tx, req, code, phrase, nil)
		return
	}
	in.wait(s, c)
}

// answerDialIn negotiates the supervisor's media, answers 200 and attaches.
// An error means nothing was answered yet.
func (c *Call) answerDialIn(sup *supervision, in *inbound, tag string) error {
	req := in.req
	ml, err := c.media.AddLeg(c.digitHandler(sup))
	if err != nil {
		return err
	}
	var answer []byte
	if len(req.Body()) == 0 {
		// A late offer: earshot offers in the 200, the phone answers in
		// its ACK (onAck).
		answer, err = ml.Offer()
	} else {
		answer, err = ml.AnswerOffer(req.Body())
	}
	if err != nil {
		_ = ml.Close()
		return err
	}
	sup.media = ml
	_ = ml.SetSignalSource(sourceIP(req.Source())) // fails only on a closed leg, which attach reports
	l := &leg{call: c, side: ml.ID(), d: uasDialog(req, tag), sup: sup}
	l.uas = newUASInvite(in, callIO{c}, l.d.transport)
	sup.leg = l
	c.s.dialogs.add(l)
	l.uas.accept(answer, []sip.Header{c.s.contact(l.d.transport), sip.NewHeader("Allow", allowMethods)},
		func() { c.detach(sup, SupEndError) })
	if !l.uas.lateOffer {
		c.attachOrDrop(sup)
	}
	return nil
}

// takeSupLateAnswer completes a supervisor's late-offer dial-in with the
// answer from its ACK, and attaches.
func (c *Call) takeSupLateAnswer(sup *supervision, body []byte) {
	if sup.ended {
		return
	}
	if err := sup.media.TakeAnswer(body); err != nil {
		c.log.Warn("supervisor's late-offer answer in ACK rejected", "err", err)
		c.detach(sup, SupEndError)
		return
	}
	c.attachOrDrop(sup)
}

// attachOrDrop attaches a supervisor whose media is negotiated, or ends
// the supervision if the mix refuses it.
func (c *Call) attachOrDrop(sup *supervision) {
	if err := c.attach(sup); err != nil {
		c.log.Warn("supervisor attach failed", "err", err)
		c.detach(sup, SupEndError)
	}
}

func (c *Call) digitHandler(sup *supervision) func(byte) {
	return func(d byte) { c.post(func() { c.onSupDigit(sup, d) }) }
}

// originate calls the supervisor's phone for a supervision started through
// the API; it attaches when the phone answers.
func (c *Call) originate(sup *supervision, t target) error {
	ml, err := c.media.AddLeg(c.digitHandler(sup))
	if err != nil {
		return err
	}
	offer, err := legOffer(ml, t.transport)
	if err != nil {
		_ = ml.Close()
		return err
	}
	sup.media = ml
	l := c.uacLeg(t, ml.ID(), Party{Number: "earshot", Name: "Supervise " + sup.Snapshot().Agent}, offer)
	l.sup = sup
	sup.leg = l
	err = l.uac.start(func(res *sip.Response) { c.onSupResponse(sup, res) },
		func(err error) { c.onSupDone(sup, l, err) })
	if err != nil {
		c.s.dialogs.drop(l)
		_ = ml.Close()
		return err
	}
	sup.ringTimer = c.after(c.s.cfg.SupervisorRingTimeout, func() {
		if !sup.attached && !sup.ended {
			c.detach(sup, SupEndNoAnswer)
		}
	})
	return nil
}

func (c *Call) onSupResponse(sup *supervision, res *sip.Response) {
	l := sup.leg
	// The leg's INVITE handles the protocol (dialog, ACK, a 2xx after the
	// CANCEL of a detach); the supervision decides what the answer means.
	switch l.uac.response(res) {
	case uacAccepted:
		if sup.ended {
			c.bye(l)
			return
		}
		if sup.ringTimer != nil {
			sup.ringTimer.Stop()
		}
		_ = sup.media.SetSignalSource(sourceIP(res.Source())) // a closed leg fails TakeAnswer below
		if err := sup.media.TakeAnswer(res.Body()); err != nil {
			c.log.Warn("supervisor answer rejected", "err", err)
			c.detach(sup, SupEndError)
			return
		}
		c.attachOrDrop(sup)
	case uacRefused:
		if sup.ended {
			return
		}
		reason := SupEndRejected
		switch res.StatusCode {
		case 408, 480, 487:
			reason = SupEndNoAnswer
		}
		c.detach(sup, reason)
	}
}

// onSupDone is the end of the INVITE that rang the supervisor's phone, l.
// It comes right after the INVITE's 2xx (SetTransactionTimers), by when
// an intercept may have given the supervision the caller's leg instead:
// only the end of l's own INVITE before an answer ends the supervision.
func (c *Call) onSupDone(sup *supervision, l *leg, err error) {
	if sup.ended || sup.leg != l || !l.uac.done() {
		return
	}
	c.log.Debug("supervisor invite ended", "err", err)
	c.detach(sup, SupEndNoAnswer)
}
