package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration file at path and parses it with Parse, using
// path as the file name in problems.
func Load(path string) (*Config, error) { return LoadWith(path, Options{}) }

// Options adds checks that need more than this package knows.
type Options struct {
	// CheckSound validates a sound file the config names (a queue's
	// music and prompts): earshot must be able to play it. Nil: the file
	// must only be readable.
	CheckSound func(path string) error
}

// LoadWith is Load with opts.
func LoadWith(path string, opts Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseWith(path, data, opts)
}

// Parse reads a YAML configuration strictly: unknown keys, duplicate keys
// and values of the wrong type are errors. It then fills the defaults of
// optional fields left empty (see SetDefaults) and validates the result.
// name is the file name used in problems.
//
// On failure the error is an *Errors holding every problem found, each
// with its line and field path, in file order; the *Config is nil.
func Parse(name string, data []byte) (*Config, error) { return ParseWith(name, data, Options{}) }

// ParseWith is Parse with opts.
func ParseWith(name string, data []byte, opts Options) (*Config, error) {
	c := &collector{file: name, sound: opts.CheckSound}
	root := readYAML(c, data)
	if len(c.problems) > 0 {
		// Without a tree there is nothing sound to check further.
		return nil, c.finish(nil)
	}
	if r := deref(root); r != nil && r.Kind != yaml.MappingNode {
		c.structural(r.Line, "", "expected a mapping of keys to values at the top of the file, got "+describe(r))
		return nil, c.finish(nil)
	}
	cfg := &Config{}
	if root != nil {
		d := decoder{c: c, budget: maxNodes}
		d.value(root, reflect.ValueOf(cfg).Elem(), "", root.Line)
	}
	cfg.SetDefaults()
	cfg.validate(c)
	if err := c.finish(root); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readYAML parses data into a node tree and returns its top node, nil for
// an empty file. Syntax errors become problems.
func readYAML(c *collector, data []byte) (root *yaml.Node) {
	// yaml.v3 turns its own errors into return values, but a parser bug
	// showing up as a runtime panic must not take the process down with it:
	// a bad config is reported, never fatal in a way that hides the cause.
	defer func() {
		if r := recover(); r != nil {
			root = nil
			c.structural(0, "", fmt.Sprintf("YAML parser failed: %v", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			c.structural(syntaxProblem(err))
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		c.structural(extra.Line, "", "the file holds more than one YAML document (---); earshot reads exactly one")
	case !errors.Is(err, io.EOF):
		c.structural(syntaxProblem(err))
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil
		}
		if r := doc.Content[0]; r.Kind != yaml.ScalarNode || r.ShortTag() != "!!null" {
			return r
		}
		return nil // "---" alone: as empty as an empty file
	}
	return &doc
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem splits a yaml.v3 error into a line and a message.
func syntaxProblem(err error) (int, string, string) {
	msg := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, err.Error())
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, "", "YAML syntax: " + m[2]
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return 0, "", "YAML syntax: " + msg
}
