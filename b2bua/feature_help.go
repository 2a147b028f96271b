package b2bua

import (
	"errors"
)

// An agent asks a supervisor for help on its answered call by dialling the
// help code alone from a second line of its phone, and ends the request
// with the help-close code. The request is opened and ended by the
// HelpDesk (the control plane), exactly as through its API, when the
// INVITE is classified; earshot then answers with the confirmation tone
// and hangs up with BYE whose Reason names what was done, as for the
// agent-state codes (feature_agent.go). Refusals are final responses whose
// reason phrase says why:
//
//	code dialled          HelpDesk error        answer
//	help or help-close    (none)                200, tone, BYE Reason "Help Requested",
//	                                            "Help Request Canceled" or "Help Request Closed"
//	either, no HelpDesk   -                     404 Feature Code Not Available
//	either                ErrNotAgent           403 Agents Only
//	either                (no answered call)    480 No Answered Call
//	help                  ErrHelpActive         403 Help Already Requested
//	help-close            ErrNoHelp             404 No Help Request Open
//	either                anything else         500

// HelpDesk opens and ends agents' help requests for the help feature
// codes. The control plane implements it; errors are the sentinels below
// (wrapped) or anything else for a failure of its own.
type HelpDesk interface {
	// OpenHelp opens a help request of agent ext on its answered call
	// callID, assigned and announced as one opened through the API.
	OpenHelp(tenant, ext, callID string) error
	// EndHelp ends the active help request of agent ext on callID: an
	// open one is canceled (canceled true), one in progress closed.
	EndHelp(tenant, ext, callID string) (canceled bool, err error)
}

// Errors a HelpDesk returns.
var (
	// ErrNotAgent: only agents open and end their help requests.
	ErrNotAgent = errors.New("only agents ask for help")
	// ErrHelpActive: the call already has an open or accepted request.
	ErrHelpActive = errors.New("the call already has a help request")
	// ErrNoHelp: the call has no open or accepted request.
	ErrNoHelp = errors.New("the call has no help request")
)

// SetHelpDesk sets who opens and ends help requests for the help codes.
// Call it before Listen; without it those codes get 404.
func (s *Server) SetHelpDesk(h HelpDesk) {
	s.help.Store(&h)
}

// helpCode reports whether num is the help code (open) or the help-close
// code (!open).
func (s *Server) helpCode(num string) (open, ok bool) {
	switch fc := s.cfg.FeatureCodes; num {
	case fc.Help:
		return true, true
	case fc.HelpClose:
		return false, true
	}
	return false, false
}

// classifyHelpCode applies a help code dialled by u; ok is false when num
// is no such code.
func (s *Server) classifyHelpCode(rt route, u *User) (_ route, code int, phrase string, ok bool) {
	open, ok := s.helpCode(rt.number)
	if !ok {
		return rt, 0, "", false
	}
	hp := s.help.Load()
	if hp == nil || *hp == nil {
		return route{}, 404, "Feature Code Not Available", true
	}
	if u.Role != RoleAgent {
		return route{}, 403, "Agents Only", true
	}
	c, err := s.agentCall(rt.tenant.name, u.Extension)
	if err != nil {
		return route{}, 480, "No Answered Call", true
	}
	canceled := false
	if open {
		err = (*hp).OpenHelp(rt.tenant.name, u.Extension, c.id)
	} else {
		canceled, err = (*hp).EndHelp(rt.tenant.name, u.Extension, c.id)
	}
	if err != nil {
		code, phrase := helpStatus(err)
		s.log.Info("help code refused", "tenant", rt.tenant.name, "user", u.Extension, "call_id", c.id, "err", err)
		return route{}, code, phrase, true
	}
	rt.kind = toConfirm
	switch {
	case open:
		rt.label = "Help Requested"
	case canceled:
		rt.label = "Help Request Canceled"
	default:
		rt.label = "Help Request Closed"
	}
	return rt, 0, "", true
}

// helpStatus is the SIP answer to a help code the HelpDesk refused.
func helpStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotAgent):
		return 403, "Agents Only"
	case errors.Is(err, ErrHelpActive):
		return 403, "Help Already Requested"
	case errors.Is(err, ErrNoHelp):
		return 404, "No Help Request Open"
	case errors.Is(err, ErrCallNotFound), errors.Is(err, ErrCallNotAnswered), errors.Is(err, ErrNoActiveCall):
		return 480, "No Answered Call"
	}
	return 500, "Server Internal Error"
}
