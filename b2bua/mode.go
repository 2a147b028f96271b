package b2bua

// Mode is how a supervisor takes part in a call.
type Mode string

// Supervision modes (the hear-matrix is in docs/mixer.md).
const (
	ModeListen    Mode = "listen"    // hears customer and agent, heard by nobody
	ModeWhisper   Mode = "whisper"   // heard by the agent only
	ModeBarge     Mode = "barge"     // heard by both: a three-way call
	ModeIntercept Mode = "intercept" // takes the agent's place; the agent gets BYE
)

// Modes lists every mode in the order of their DTMF digits 1–4.
var Modes = [...]Mode{ModeListen, ModeWhisper, ModeBarge, ModeIntercept}

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", ErrUnknownMode
}
