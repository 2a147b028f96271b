package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse feeds Parse arbitrary bytes. It must never panic; a failure is
// an *Errors whose rendering has exactly one line per problem; a success
// validates again, and survives a trip through yaml.Marshal unchanged.
// Seeds: testdata/fuzz/FuzzParse (the demo file, the examples, broken
// ones).
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte(baseYAML))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(errs.Problems) {
				t.Fatalf("%d problems rendered on %d lines:\n%s", len(errs.Problems), n, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
		_ = cfg.CheckSafety()
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("re-parse of marshalled config: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}
