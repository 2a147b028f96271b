package config

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the YAML nodes one Parse decodes. Aliases let a few
// kilobytes expand into billions of nodes; a real configuration, even with
// thousands of users, stays far below this.
const maxNodes = 1_000_000

var durationType = reflect.TypeFor[Duration]()

// decoder fills a Config from a yaml.Node tree strictly: unknown keys,
// duplicate keys and values of the wrong type are problems with a line, and
// decoding goes on past them so that one run reports them all. It is driven
// by the Go type, which bounds its recursion depth whatever the YAML holds.
type decoder struct {
	c      *collector
	budget int
	over   bool // budget exhausted, already reported
}

// value decodes n into v. line is where the value is written: the line of
// its key for a mapping entry, of the item for a list element.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	if d.over {
		return
	}
	if d.budget--; d.budget < 0 {
		d.over = true
		d.c.structural(line, path, fmt.Sprintf("document too large: more than %d YAML nodes once aliases are expanded", maxNodes))
		return
	}
	n = deref(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return // an empty value means the zero value, i.e. the default
	}
	if t := n.Tag; strings.HasPrefix(t, "!") && !strings.HasPrefix(t, "!!") {
		d.c.structural(line, path, fmt.Sprintf("unsupported YAML tag %s", quoteShort(t)))
		return
	}
	if v.Type() == durationType {
		dur, err := parseDuration(n)
		if err != nil {
			d.c.structural(line, path, err.Error())
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		d.str(n, v, path, line)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.c.structural(line, path, "expected true or false, got "+describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.c.structural(line, path, "expected an integer, got "+describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		d.list(n, v, path, line)
	case reflect.Struct:
		d.mapping(n, v, path, line)
	default:
		// Only reachable if someone adds a field of a kind this decoder
		// does not know; TestDecoderCoversSchema catches that first.
		d.c.structural(line, path, fmt.Sprintf("internal error: cannot decode into %s", v.Type()))
	}
}

func (d *decoder) str(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!binary" {
		d.c.structural(line, path, "expected a string, got "+describe(n))
		return
	}
	// The literal text is kept: an unquoted 0100 stays "0100", not 64.
	s := n.Value
	if !utf8.ValidString(s) {
		d.c.structural(line, path, "must be valid UTF-8")
		return
	}
	// Names end up in SIP headers and logs; a CR or LF there is an injection.
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		d.c.structural(line, path, "must not contain control characters")
		return
	}
	v.SetString(s)
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.c.structural(line, path, "expected a list, got "+describe(n))
		return
	}
	if len(n.Content) == 0 {
		return // [] and a missing key mean the same: nil
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), idx(path, i), item.Line)
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.c.structural(line, path, "expected a mapping of keys to values, got "+describe(n))
		return
	}
	t := v.Type()
	seen := make(map[string]int, len(n.Content)/2)
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := deref(n.Content[k]), n.Content[k+1]
		if key == nil || key.Kind != yaml.ScalarNode {
			d.c.structural(n.Content[k].Line, path, "keys must be plain names, got "+describe(key))
			continue
		}
		field := at(path, keyName(key.Value))
		if key.ShortTag() == "!!merge" {
			d.c.structural(key.Line, field, "merge keys (<<) are not supported; repeat the values or use an alias for the whole mapping")
			continue
		}
		if first, dup := seen[key.Value]; dup {
			d.c.structural(key.Line, field, fmt.Sprintf("duplicate key (first at line %d)", first))
			continue
		}
		seen[key.Value] = key.Line
		i := fieldIndex(t, key.Value)
		if i < 0 {
			msg, guess := unknownKey(t, key.Value)
			d.c.structural(key.Line, field, msg)
			if guess != "" && !hasKey(n, guess) {
				// The typo is why the real key is missing: say it once.
				d.c.markBad(at(path, guess))
			}
			continue
		}
		d.value(val, v.Field(i), field, key.Line)
	}
}

// keyName renders a key for a field path. Real keys are plain words; any
// other key is quoted so that a hostile one cannot break the one-problem-
// per-line report.
func keyName(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return quoteShort(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// fieldIndex returns the index of the struct field whose yaml name is key.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == key {
			return i
		}
	}
	return -1
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// hasKey reports whether mapping n has the key.
func hasKey(n *yaml.Node, key string) bool {
	v, _ := lookup(n, key)
	return v != nil
}

// unknownKey words the problem for a key t does not have, suggesting the
// closest real key (returned as guess): most unknown keys are typos.
func unknownKey(t reflect.Type, key string) (msg, guess string) {
	best, bestDist := "", 3 // suggest only within two edits
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if dist := editDistance(strings.ToLower(key), name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", best), best
	}
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = yamlName(t.Field(i))
	}
	return "unknown key; expected one of " + strings.Join(names, ", "), ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo of a key name; don't spend time on it
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!binary":
		return "binary data"
	}
	return quoteShort(n.Value)
}
