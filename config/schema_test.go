package config

import (
	"reflect"
	"strings"
	"testing"
)

// schemaPaths lists every key of the file as a documented path:
// "sip.registration.min_expires", "tenants[].groups[].strategy". It fails
// the test on a field the decoder could not fill: no yaml name, a name used
// twice, or a kind other than string, bool, int, Duration, list or mapping.
func schemaPaths(t *testing.T, typ reflect.Type, prefix string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := yamlName(f)
		if name == "" || name == "-" || seen[name] {
			t.Errorf("%s.%s: yaml name %q missing or repeated", typ.Name(), f.Name, name)
			continue
		}
		seen[name] = true
		path := at(prefix, name)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			path += "[]"
			ft = ft.Elem()
		}
		switch {
		case ft == durationType, ft.Kind() == reflect.String, ft.Kind() == reflect.Bool, ft.Kind() == reflect.Int:
			out = append(out, path)
		case ft.Kind() == reflect.Struct:
			out = append(out, schemaPaths(t, ft, path)...)
		default:
			t.Errorf("%s: the decoder does not handle %s", path, ft)
		}
	}
	return out
}

// TestDecoderCoversSchema: a field added to types.go with a kind the
// decoder does not know would otherwise surface only as a parse error.
func TestDecoderCoversSchema(t *testing.T) {
	if n := len(schemaPaths(t, reflect.TypeFor[Config](), "")); n < 40 {
		t.Errorf("only %d keys found; the walk is broken", n)
	}
}

// TestDocsCoverEveryKey: docs/config.md names every key by its full path.
func TestDocsCoverEveryKey(t *testing.T) {
	doc := readDocs(t)
	for _, p := range schemaPaths(t, reflect.TypeFor[Config](), "") {
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("docs/config.md does not document `%s`", p)
		}
	}
}
