package control

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Prefix is where the API lives; Handler expects full paths under it.
const Prefix = "/api/v1"

// route is one operation of the API. The table drives the mux, the metrics
// labels and the test that holds the OpenAPI document to the real routes.
type route struct {
	method string
	path   string // under Prefix, with {id} wildcards
	// public routes need no token (the OpenAPI document only).
	public bool
	// supervisor routes answer 403 to agents before looking at anything,
	// so the refusal reveals nothing about the object.
	supervisor bool
	handle     func(w http.ResponseWriter, r *http.Request, p Principal) error
}

func (rt route) pattern() string { return rt.method + " " + Prefix + rt.path }

func routes(s *Service) []route {
	return []route{
		{method: "GET", path: "/calls", handle: s.listCalls},
		{method: "GET", path: "/calls/{id}", handle: s.getCall},
		{method: "POST", path: "/calls/{id}/supervisions", supervisor: true, handle: s.startSupervision},
		{method: "PATCH", path: "/supervisions/{id}", supervisor: true, handle: s.changeSupervision},
		{method: "DELETE", path: "/supervisions/{id}", supervisor: true, handle: s.endSupervision},
		{method: "POST", path: "/help-requests", handle: s.openHelp},
		{method: "GET", path: "/help-requests", handle: s.listHelp},
		{method: "GET", path: "/help-requests/{id}", handle: s.getHelp},
		{method: "POST", path: "/help-requests/{id}/accept", supervisor: true, handle: s.helpAction("accept")},
		{method: "POST", path: "/help-requests/{id}/close", handle: s.helpAction("close")},
		{method: "POST", path: "/help-requests/{id}/cancel", handle: s.helpAction("cancel")},
		{method: "POST", path: "/calls/{id}/notes", supervisor: true, handle: s.createNote},
		{method: "GET", path: "/notes", handle: s.listNotes},
		{method: "GET", path: "/audit", supervisor: true, handle: s.listAudit},
		{method: "GET", path: "/stats", supervisor: true, handle: s.getStats},
		{method: "GET", path: "/reports/supervision", supervisor: true, handle: s.supervisionReport},
		{method: "GET", path: "/team", handle: s.listTeam},
		{method: "PUT", path: "/agents/{ext}/state", handle: s.setAgentState},
		{method: "GET", path: "/queues", supervisor: true, handle: s.listQueues},
		{method: "POST", path: "/calls/{id}/pick", supervisor: true, handle: s.pickCall},
		{method: "POST", path: "/calls/{id}/move", supervisor: true, handle: s.moveCall},
		{method: "POST", path: "/calls/{id}/transfer", supervisor: true, handle: s.transferCall},
		{method: "GET", path: "/callbacks", supervisor: true, handle: s.listCallbacks},
		{method: "GET", path: "/backup", supervisor: true, handle: s.backup},
		{method: "GET", path: "/events", handle: s.streamEvents},
		{method: "GET", path: "/openapi.json", public: true, handle: serveOpenAPI},
	}
}

// newHandler builds the mux. Requests no route matches get problem+json
// 404s, or 405s with Allow when the path exists for other methods.
func (s *Service) newHandler() http.Handler {
	mux := http.NewServeMux()
	byPath := map[string][]string{}
	var paths []string
	for _, rt := range routes(s) {
		mux.Handle(rt.pattern(), s.wrap(rt))
		if byPath[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		byPath[rt.path] = append(byPath[rt.path], rt.method)
	}
	other := http.NewServeMux()
	for _, p := range paths {
		allow := strings.Join(slices.Sorted(slices.Values(byPath[p])), ", ")
		other.HandleFunc(Prefix+p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.unmatched(w, r, http.StatusMethodNotAllowed, "allowed: "+allow)
		})
	}
	other.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.unmatched(w, r, http.StatusNotFound, "no such resource")
	})
	mux.Handle("/", other)
	return mux
}

func (s *Service) unmatched(w http.ResponseWriter, r *http.Request, status int, detail string) {
	start := time.Now()
	writeProblem(w, r, status, detail, "")
	s.metrics.observe(unmatchedRoute, status, time.Since(start))
}

// wrap authenticates, checks the role, runs the handler, renders its error
// and records the request's metrics.
func (s *Service) wrap(rt route) http.Handler {
	label := rt.pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		s.serve(rec, r, rt)
		s.metrics.observe(label, rec.statusCode(), time.Since(start))
	})
}

func (s *Service) serve(w *statusRecorder, r *http.Request, rt route) {
	var p Principal
	if !rt.public {
		var status int
		var detail string
		if p, r, status, detail = s.authenticate(r); status != 0 {
			writeProblem(w, r, status, detail, "")
			return
		}
		if rt.supervisor && !p.canSupervise() {
			writeProblem(w, r, http.StatusForbidden, errForbidden.Error(), "")
			return
		}
	}
	if err := rt.handle(w, r, p); err != nil {
		status, detail, field := statusOf(err)
		if status == http.StatusInternalServerError {
			s.log.Error("request failed", "route", rt.pattern(), "err", err)
		}
		if w.status != 0 {
			return // the handler already started its response
		}
		writeProblem(w, r, status, detail, field)
	}
}

// statusRecorder remembers the status a handler wrote, for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
