package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// String returns the Go duration string, e.g. "20s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a Go duration string ("20s", "1m30s"). A bare number
// is refused: "60" could mean seconds or milliseconds, and a config file is
// the wrong place to guess. Parse does not go through this method (it
// decodes with line numbers itself); it serves other yaml.v3 users.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return fmt.Errorf("line %d: %s", n.Line, err)
	}
	*d = v
	return nil
}

// parseDuration reads a scalar node as a Duration.
func parseDuration(n *yaml.Node) (Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("expected a duration like \"20s\", got %s", describe(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %s: write a number with a unit, like \"20s\", \"1m30s\" or \"500ms\"", quoteShort(n.Value))
	}
	return Duration(v), nil
}
