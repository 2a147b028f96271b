package control

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/earshot/earshot/b2bua"
)

// checkDecodeErr: every rejection is an apiError with a 4xx status.
func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 {
		t.Fatalf("rejection %v is not a 4xx apiError", err)
	}
	if ae.status == http.StatusBadRequest && ae.field == "" {
		t.Fatalf("400 without a field: %v", err)
	}
}

func FuzzOpenHelpRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req OpenHelpRequest
		err := decodeJSON(bytes.NewReader(data), &req)
		if err == nil {
			err = req.check()
		}
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if req.CallID == "" || len(req.CallID) > 200 || !utf8.ValidString(req.Reason) || utf8.RuneCountInString(req.Reason) > MaxReasonLength {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzModeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req ModeRequest
		err := decodeJSON(bytes.NewReader(data), &req)
		var m b2bua.Mode
		if err == nil {
			m, err = checkMode(req)
		}
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if !slices.Contains(b2bua.Modes[:], m) {
			t.Fatalf("accepted mode %q", m)
		}
	})
}

func FuzzNoteRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req NoteRequest
		err := decodeJSON(bytes.NewReader(data), &req)
		if err == nil {
			err = checkText("text", req.Text, MaxNoteLength, true)
		}
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if req.Text == "" || utf8.RuneCountInString(req.Text) > MaxNoteLength {
			t.Fatalf("accepted %q", req.Text)
		}
	})
}

func FuzzAuditQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := httptest.NewRequest("GET", "/api/v1/audit", nil)
		r.URL.RawQuery = rawQuery
		q, err := parseAuditQuery(r)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if q.Limit < 1 || q.Limit > maxAuditLimit || (q.After != nil && len(q.After) != 16) ||
			(!q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To)) {
			t.Fatalf("accepted %+v", q)
		}
	})
}
