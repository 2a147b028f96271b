package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsafeDemo is wrapped by the error CheckSafety returns when demo
// credentials would be reachable from beyond this machine.
var ErrUnsafeDemo = errors.New("config: demo credentials on a non-loopback listener")

// maxProblems bounds how many problems one Parse collects. A file built from
// aliases can multiply one mistake a million times; a thousand lines of
// errors already tell the operator what to fix.
const maxProblems = 1000

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// File is the name given to Parse (the path, for Load).
	File string
	// Line is the 1-based line of the offending YAML node, or of the mapping
	// that lacks a required key. 0 when unknown (Validate on a Config built
	// in code, or a YAML error that names no line).
	Line int
	// Field is the path of the offending field in yaml key names, with list
	// indexes: "tenants[0].groups[1].strategy". Empty for a YAML syntax error.
	Field string
	// Msg says what is wrong, in words an operator can act on.
	Msg string
}

// String renders the problem as "file:line: field: msg", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order. Parse,
// Load and Validate return it as *Errors; use errors.As to get at the list.
type Errors struct {
	Problems []Problem
}

// Error renders one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
