package b2bua

import "fmt"

// Strategy decides which agents of a group ring for a call.
type Strategy int

// Ring strategies.
const (
	RingAll     Strategy = iota // every idle agent at once
	RoundRobin                  // one agent at a time, starting after the last one tried
	LongestIdle                 // one agent at a time, longest idle first
)

// ParseStrategy maps the config names to strategies.
func ParseStrategy(s string) (Strategy, error) {
	switch s {
	case "", "ring-all":
		return RingAll, nil
	case "round-robin":
		return RoundRobin, nil
	case "longest-idle":
		return LongestIdle, nil
	}
	return 0, fmt.Errorf("unknown ring strategy %q", s)
}

func (s Strategy) String() string {
	switch s {
	case RingAll:
		return "ring-all"
	case RoundRobin:
		return "round-robin"
	case LongestIdle:
		return "longest-idle"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}
