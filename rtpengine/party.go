package rtpengine

// Party is whom a packet earshot sent was for, by the leg it left from. It
// indexes the sent-packet counters of Stats, so that each way of a call
// can be told apart.
type Party int

// The parties. The caller is leg 0 and the callee leg 1 — after Promote,
// the supervisor who took the callee's place.
const (
	Caller     Party = iota // out of leg 0, to the caller's phone
	Callee                  // out of leg 1, to the callee's phone
	Supervisor              // out of a supervisor's leg: mixed audio
	// NumParties is the number of parties, for arrays indexed by Party.
	NumParties
)

// String is "caller", "callee" or "supervisor".
func (p Party) String() string {
	switch p {
	case Caller:
		return "caller"
	case Callee:
		return "callee"
	case Supervisor:
		return "supervisor"
	}
	return "unknown"
}

// partyOf is the Party packets sent out of leg out go to. pair is the
// session's current caller/callee pair.
func partyOf(pair *[2]*leg, out *leg) Party {
	switch out {
	case pair[0]:
		return Caller
	case pair[1]:
		return Callee
	}
	return Supervisor
}

// otherOf is the pair leg in's packets are relayed to: the callee's for
// the caller's and the other way round; nil for a leg outside the pair
// (a supervisor's).
func otherOf(pair *[2]*leg, in *leg) *leg {
	switch in {
	case pair[0]:
		return pair[1]
	case pair[1]:
		return pair[0]
	}
	return nil
}
