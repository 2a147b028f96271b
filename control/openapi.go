package control

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of this API, served as is. The copy
// in docs/openapi.json must be identical (a test checks it), and a test
// holds its paths and methods to the route table.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns a copy of the OpenAPI document.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ Principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPI)
	return nil
}
