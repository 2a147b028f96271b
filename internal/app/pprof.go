package app

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof serves Go's runtime profiles under /debug/pprof/ on mux.
// Importing net/http/pprof also registers them on http.DefaultServeMux,
// which earshot never serves, so only this opt-in mux exposes them.
//
// A CPU profile or trace longer than the server's WriteTimeout (30 s) is
// refused by the handler itself; ask for ?seconds=20 or so.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // named profiles: heap, goroutine, mutex, block, allocs
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
