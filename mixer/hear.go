package mixer

// The hear-matrix. Every rule of who hears whom lives in this file.
//
// The product table fixes the one-supervisor cases:
//
//	mode       customer hears      agent hears             supervisor hears
//	listen     agent               customer                customer + agent
//	whisper    agent               customer + supervisor   customer + agent
//	barge      agent + supervisor  customer + supervisor   customer + agent
//	intercept  supervisor          — (agent dropped)       customer
//
// For any number of supervisors the table generalises by giving each leg a
// "voice class" and deciding on classes alone:
//
//   - the customer;
//   - the front: whoever talks to the customer on the contact centre's side.
//     Normally the agent; once any supervisor intercepts, every intercepting
//     supervisor and no longer the agent;
//   - the dropped agent (only while some supervisor intercepts, until the
//     signalling layer removes the leg): hears nobody, heard by nobody;
//   - barging supervisors: heard by everybody;
//   - whispering supervisors: heard by the front only;
//   - listening supervisors: heard by nobody.
//
// Then: the customer hears the front and the bargers; the front hears the
// customer, the other fronts, the bargers and the whisperers; every other
// supervisor hears the customer, the front and the bargers. So supervisors
// hear each other only through barge, a whisper coaches whoever is the front
// (the interceptor once the agent is gone), and nobody ever hears a listener.
// No leg hears itself: the mixer never offers a leg its own frame, and Hears
// is only asked about two distinct legs.

// voice is the class a leg falls in for one state of the call.
type voice uint8

const (
	voiceNone voice = iota // invalid party or dropped agent
	voiceCustomer
	voiceFront
	voiceBarge
	voiceWhisper
	voiceListen
)

// classify returns p's voice class. intercepted is true while any supervisor
// on the call is in ModeIntercept.
func classify(p Party, intercepted bool) voice {
	if !p.Valid() {
		return voiceNone
	}
	switch p.Role {
	case RoleCustomer:
		return voiceCustomer
	case RoleAgent:
		if intercepted {
			return voiceNone
		}
		return voiceFront
	}
	switch p.Mode {
	case ModeIntercept:
		return voiceFront
	case ModeBarge:
		return voiceBarge
	case ModeWhisper:
		return voiceWhisper
	default:
		return voiceListen
	}
}

// Hears reports whether the leg recipient hears the leg source, two distinct
// legs of one call. intercepted must be true while any supervisor on the call
// is in ModeIntercept (Intercepted computes it). Invalid parties hear nothing
// and are heard by nobody.
func Hears(recipient, source Party, intercepted bool) bool {
	r := classify(recipient, intercepted)
	s := classify(source, intercepted)
	if r == voiceNone || s == voiceNone {
		return false
	}
	switch r {
	case voiceCustomer:
		return s == voiceFront || s == voiceBarge
	case voiceFront:
		return s != voiceListen
	default: // a supervisor not at the front
		return s == voiceCustomer || s == voiceFront || s == voiceBarge
	}
}

// Intercepted reports whether any of parties is a supervisor in
// ModeIntercept, the condition that drops the agent.
func Intercepted(parties []Party) bool {
	for _, p := range parties {
		if p.Role == RoleSupervisor && p.Mode == ModeIntercept {
			return true
		}
	}
	return false
}
