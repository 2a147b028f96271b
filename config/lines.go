package config

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineOf finds the line of the node a field path names, walking the YAML
// tree the way the decoder did. When the path leaves the tree (a required
// key is missing, a default was filled in) it returns the line of the
// deepest node found, which is the mapping that lacks the key.
//
// Lines are looked up only for the few problems reported rather than kept
// for every node while decoding: a file of thousands of users would
// otherwise carry a map as large as itself.
func lineOf(root *yaml.Node, field string) int {
	n := deref(root)
	if n == nil {
		return 0
	}
	line := n.Line
	rest := field
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			continue
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return line
			}
			i, err := strconv.Atoi(rest[1:end])
			rest = rest[end+1:]
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line
			}
			line = n.Content[i].Line
			n = deref(n.Content[i])
			continue
		}
		end := strings.IndexAny(rest, ".[")
		if end < 0 {
			end = len(rest)
		}
		key := rest[:end]
		rest = rest[end:]
		v, keyLine := lookup(n, key)
		if v == nil {
			return line
		}
		line, n = keyLine, v
	}
	return line
}

// lookup returns the value of key in mapping n (the first one when the key
// is duplicated, which the decoder reports) and the line of the key.
func lookup(n *yaml.Node, key string) (*yaml.Node, int) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == key {
			return deref(n.Content[k+1]), n.Content[k].Line
		}
	}
	return nil, 0
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	// An alias always names a non-alias node in yaml.v3; the bound only
	// keeps a malformed tree from looping.
	for range 8 {
		if n == nil || n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}
