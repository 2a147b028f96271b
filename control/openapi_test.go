package control

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: the document describes exactly the operations
// the mux serves, each with its error responses declared.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]map[string]any{} // "GET /calls" → operation
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op map[string]any
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") || len(doc.Servers) != 1 || doc.Servers[0].URL != Prefix {
		t.Fatalf("openapi %q servers %+v", doc.OpenAPI, doc.Servers)
	}
	var documented, served []string
	for name, op := range ops {
		documented = append(documented, name)
		if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
			t.Errorf("%s: no responses", name)
		}
	}
	f := newFixture(t)
	for _, rt := range routes(f.svc) {
		served = append(served, rt.method+" "+rt.path)
		op := ops[rt.method+" "+rt.path]
		resp, _ := op["responses"].(map[string]any)
		if _, ok := resp["401"]; !ok && !rt.public {
			t.Errorf("%s: 401 not documented", rt.pattern())
		}
		if _, ok := resp["403"]; !ok && rt.supervisor {
			t.Errorf("%s: 403 not documented", rt.pattern())
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	r := f.must(200, "GET", "/api/v1/openapi.json", "", "")
	if !bytes.Equal(r.body, OpenAPI()) || r.hdr.Get("Content-Type") != "application/json" {
		t.Error("served document differs from the embedded one")
	}
}

// TestOpenAPIDocsCopy: docs/openapi.json is the served document, byte for byte.
func TestOpenAPIDocsCopy(t *testing.T) {
	b, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, OpenAPI()) {
		t.Error("docs/openapi.json differs from control/openapi.json; copy it over")
	}
}
