package config

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// collector gathers the problems of one Parse or Validate so that they can
// all be reported at once.
type collector struct {
	file     string
	problems []Problem
	dropped  bool
	// bad holds the fields whose YAML was malformed. Semantic checks of the
	// same field or anything under it would only repeat the mistake in other
	// words ("expected a string" followed by "must not be empty"), so they
	// are suppressed.
	bad map[string]bool
	// sound checks a WAV file named by the config (LoadWith); nil: only
	// that it can be read.
	sound func(path string) error
}

// checkSound checks a sound file the config names.
func (c *collector) checkSound(path string) error {
	if c.sound != nil {
		return c.sound(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// structural records a problem found while decoding the YAML tree, whose
// line is known.
func (c *collector) structural(line int, field, msg string) {
	c.markBad(field)
	c.push(Problem{File: c.file, Line: line, Field: field, Msg: msg})
}

// markBad suppresses the semantic problems of field and what is under it.
// Past maxProblems nothing more is reported anyway, so the set stops
// growing there.
func (c *collector) markBad(field string) {
	if field == "" || len(c.problems) >= maxProblems {
		return
	}
	if c.bad == nil {
		c.bad = make(map[string]bool)
	}
	c.bad[field] = true
}

// add records a semantic problem; its line is filled in by finish.
func (c *collector) add(field, msg string) {
	if c.malformed(field) {
		return
	}
	c.push(Problem{File: c.file, Field: field, Msg: msg})
}

// addf is add with a formatted message.
func (c *collector) addf(field, format string, args ...any) {
	c.add(field, fmt.Sprintf(format, args...))
}

func (c *collector) push(p Problem) {
	if len(c.problems) >= maxProblems {
		c.dropped = true
		return
	}
	c.problems = append(c.problems, p)
}

// finish resolves the lines of semantic problems against the YAML tree (nil
// when there is none), orders everything by line and returns nil or *Errors.
func (c *collector) finish(root *yaml.Node) error {
	if root != nil {
		for i := range c.problems {
			if c.problems[i].Line == 0 {
				c.problems[i].Line = lineOf(root, c.problems[i].Field)
			}
		}
		slices.SortStableFunc(c.problems, func(a, b Problem) int { return a.Line - b.Line })
	}
	if c.dropped {
		c.problems = append(c.problems, Problem{File: c.file,
			Msg: fmt.Sprintf("too many problems; stopped after %d", maxProblems)})
	}
	if len(c.problems) == 0 {
		return nil
	}
	return &Errors{Problems: c.problems}
}

// malformed reports whether field, or a field it is part of, was malformed.
func (c *collector) malformed(field string) bool {
	if len(c.bad) == 0 {
		return false
	}
	for i := len(field); i > 0; i = strings.LastIndexAny(field[:i], ".[") {
		if c.bad[field[:i]] {
			return true
		}
	}
	return false
}

// at joins a field path and a key: at("log", "level") = "log.level".
func at(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// idx appends a list index: idx("tenants", 2) = "tenants[2]".
func idx(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// quoteShort quotes a value for a message, cutting it if it is long: an
// operator needs to recognise the value, not to read a pasted key file.
func quoteShort(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

// oneOf renders the allowed values for a message.
func oneOf(vals ...string) string {
	return "must be one of " + strings.Join(vals, ", ")
}
