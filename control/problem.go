package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/earshot/earshot/b2bua"
)

// Problem is an RFC 9457 problem details body (application/problem+json).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request path the problem is about.
	Instance string `json:"instance,omitempty"`
	// InvalidParams names the offending fields of a 400 (the extension
	// member used in RFC 9457's own example).
	InvalidParams []InvalidParam `json:"invalid-params,omitempty"`
}

// InvalidParam is one rejected input field.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// apiError is an error that knows its HTTP status; handlers return it and
// writeError renders it.
type apiError struct {
	status int
	detail string
	field  string // for 400: the field named in invalid-params
	cause  error  // what it means outside HTTP (a b2bua error), or nil
}

func (e *apiError) Error() string { return e.detail }

// Unwrap lets callers outside HTTP (the help feature codes) match cause.
func (e *apiError) Unwrap() error { return e.cause }

// errWrap is errStatus whose meaning outside HTTP is cause.
func errWrap(cause error, status int, format string, args ...any) error {
	return &apiError{status: status, detail: fmt.Sprintf(format, args...), cause: cause}
}

func errStatus(status int, format string, args ...any) error {
	return &apiError{status: status, detail: fmt.Sprintf(format, args...)}
}

// errField is a 400 naming the offending field.
func errField(field, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return &apiError{status: http.StatusBadRequest, field: field, detail: field + ": " + reason}
}

// queryLimit reads the query's limit: def when absent, else an integer
// from 1 to max (a 400 naming the field otherwise).
func queryLimit(q url.Values, def, max int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, errField("limit", "must be an integer from 1 to %d", max)
	}
	return n, nil
}

var (
	errNotFound  = errStatus(http.StatusNotFound, "no such object")
	errForbidden = errStatus(http.StatusForbidden, "your role may not do this")
)

// statusOf maps an error to its HTTP status and the detail shown. Errors of
// b2bua's supervision API map by meaning; anything unknown is a 500 whose
// detail hides internals.
func statusOf(err error) (status int, detail, field string) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.detail, ae.field
	case errors.Is(err, b2bua.ErrUnknownMode):
		return http.StatusBadRequest, "mode: " + err.Error(), "mode"
	case errors.Is(err, b2bua.ErrNotSupervisor), errors.Is(err, b2bua.ErrModeNotAllowed):
		return http.StatusForbidden, err.Error(), ""
	case errors.Is(err, b2bua.ErrCallNotFound), errors.Is(err, b2bua.ErrSupervisionGone):
		return http.StatusNotFound, err.Error(), ""
	case errors.Is(err, b2bua.ErrCallNotAnswered), errors.Is(err, b2bua.ErrNoActiveCall),
		errors.Is(err, b2bua.ErrNotRegistered), errors.Is(err, b2bua.ErrAlreadySupervised),
		errors.Is(err, b2bua.ErrNotQueued), errors.Is(err, b2bua.ErrUserBusy),
		errors.Is(err, b2bua.ErrIntercepted), errors.Is(err, b2bua.ErrOtherAgent),
		errors.Is(err, b2bua.ErrNotMixable), errors.Is(err, b2bua.ErrTransferPending),
		errors.Is(err, b2bua.ErrTargetUnavailable):
		return http.StatusConflict, err.Error(), ""
	case errors.Is(err, b2bua.ErrNoSuchTarget):
		return http.StatusBadRequest, "to: " + err.Error(), "to"
	case errors.Is(err, b2bua.ErrNoSuchGroup):
		return http.StatusBadRequest, "group: " + err.Error(), "group"
	}
	return http.StatusInternalServerError, "internal error", ""
}

// writeProblem renders a problem+json response.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail, field string) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Instance: r.URL.Path}
	if field != "" {
		reason := strings.TrimPrefix(detail, field+": ")
		p.InvalidParams = []InvalidParam{{Name: field, Reason: reason}}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="earshot"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON renders v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeBody reads one JSON object into v strictly: Content-Type
// application/json, a bounded body, known fields only — spelled exactly,
// each once — and nothing after the object. Its errors are 400s naming
// the field, 413 or 415.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	// A body must say it is JSON; an empty one is refused below as empty.
	if r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return errStatus(http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return decodeJSON(body, v)
}

// decodeJSON is decodeBody without HTTP: the part the fuzzers drive.
func decodeJSON(body io.Reader, v any) error {
	raw, err := io.ReadAll(body)
	if err != nil {
		return jsonError(err)
	}
	// encoding/json matches keys without regard to case and lets a later
	// duplicate win: {"MODE":"listen"} or {"mode":"listen","mode":"barge"}
	// would pass. The keys are checked first, exactly.
	if err := exactKeys(raw, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return errField("body", "must hold exactly one JSON object")
	}
	return nil
}

// exactKeys checks the top-level keys of a JSON object against the json
// names of v's struct fields: each must be one of them, spelled exactly,
// and appear once. Anything that is not an object is left to the decoder.
func exactKeys(raw []byte, v any) error {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	known := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			known[name] = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: the decoder names the error
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		switch {
		case !known[key]:
			if key == "" {
				return errField("body", "unknown field with an empty name")
			}
			return errField(key, "unknown field (field names are case-sensitive)")
		case seen[key]:
			return errField(key, "given more than once")
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

func jsonError(err error) error {
	var (
		mbe  *http.MaxBytesError
		ute  *json.UnmarshalTypeError
		syn  *json.SyntaxError
		name string
	)
	switch {
	case errors.As(err, &mbe):
		return errStatus(http.StatusRequestEntityTooLarge, "body larger than %d bytes", mbe.Limit)
	case errors.As(err, &ute):
		f := ute.Field
		if f == "" {
			return errField("body", "must be a JSON object")
		}
		return errField(f, "must be a JSON %s", ute.Type.Kind())
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return errField("body", "malformed JSON")
	case errors.Is(err, io.EOF):
		return errField("body", "empty; a JSON object is required")
	}
	// encoding/json reports an unknown field only as text.
	if s, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(s, `"`)
		if name == "" {
			return errField("body", "unknown field with an empty name")
		}
		return errField(name, "unknown field")
	}
	return errField("body", "malformed JSON")
}
