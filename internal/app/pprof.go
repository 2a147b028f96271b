package app

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
)

// mountPprof serves Go's runtime profiles under /debug/pprof/ on mux,
// behind the ops token when one is set. Importing net/http/pprof also
// registers them on http.DefaultServeMux, which earshot never serves, so
// only this opt-in mux exposes them.
//
// A CPU profile or trace longer than the server's WriteTimeout (30 s) is
// refused by the handler itself; ask for ?seconds=20 or so.
func mountPprof(mux *http.ServeMux, token string) {
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /debug/pprof/", pprof.Index}, // named profiles: heap, goroutine, mutex, block, allocs
		{"GET /debug/pprof/cmdline", pprof.Cmdline},
		{"GET /debug/pprof/profile", pprof.Profile},
		{"GET /debug/pprof/symbol", pprof.Symbol},
		{"POST /debug/pprof/symbol", pprof.Symbol},
		{"GET /debug/pprof/trace", pprof.Trace},
	} {
		mux.Handle(r.pattern, opsOnly(token, r.h))
	}
}

// opsOnly guards an operations endpoint (metrics, profiles) with a bearer
// token; an empty token leaves it open to whoever reaches the listener.
// The comparison takes the same time whatever the token sent.
func opsOnly(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="earshot-ops"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
