package control

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// corsMaxAge is how long a browser may cache a preflight's answer.
const corsMaxAge = 10 * time.Minute

// withCORS lets pages of the listed origins call the API with a bearer
// token (CORS, the Fetch standard). Credentials are never allowed across
// origins: the session cookie is SameSite=Strict and only the workspace's
// own origin uses it. With no origins, h is returned unchanged and
// browsers keep refusing cross-origin calls.
func withCORS(origins []string, h http.Handler) http.Handler {
	if len(origins) == 0 {
		return h
	}
	anyOrigin := slices.Contains(origins, "*")
	allowed := func(o string) bool { return o != "" && (anyOrigin || slices.Contains(origins, o)) }
	methods := "GET, POST, PUT, PATCH, DELETE"
	headers := "Authorization, Content-Type"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Add("Vary", "Access-Control-Request-Method")
			w.Header().Add("Vary", "Access-Control-Request-Headers")
			if !allowed(origin) {
				writeProblem(w, r, http.StatusForbidden, "origin not allowed", "")
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Methods", methods)
			w.Header().Set("Access-Control-Allow-Headers", headers)
			w.Header().Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", strings.Join([]string{"Allow", "Location"}, ", "))
		}
		h.ServeHTTP(w, r)
	})
}
