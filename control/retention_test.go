package control

import (
	"testing"
	"time"
)

// TestPruneRetention: records older than the retention go, newer ones stay.
func TestPruneRetention(t *testing.T) {
	f := newFixture(t)
	f.must(201, "POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"old"}`)
	// The default audit retention is 90 days.
	f.setNow(t0.Add(91 * 24 * time.Hour))
	f.must(201, "POST", "/api/v1/calls/c1/notes", tokSup, `{"text":"new"}`)

	var before AuditPage
	f.must(200, "GET", "/api/v1/audit?action="+ActionNote, tokSup, "").decode(t, &before)
	if len(before.Records) != 2 {
		t.Fatalf("before pruning: %d note records, want 2", len(before.Records))
	}
	n, err := f.svc.prune(f.now())
	if err != nil || n == 0 {
		t.Fatalf("prune: %d records, %v", n, err)
	}
	var after AuditPage
	f.must(200, "GET", "/api/v1/audit?action="+ActionNote, tokSup, "").decode(t, &after)
	if len(after.Records) != 1 || !after.Records[0].Time.Equal(f.now().Truncate(time.Millisecond)) {
		t.Fatalf("after pruning: %+v, want only the new note's record", after.Records)
	}
	var notes NoteList
	f.must(200, "GET", "/api/v1/notes", tokSup, "").decode(t, &notes)
	if len(notes.Notes) != 1 || notes.Notes[0].Text != "new" {
		t.Errorf("notes after pruning: %+v", notes.Notes)
	}
	if n, err := f.svc.prune(f.now()); err != nil || n != 0 {
		t.Errorf("second prune removed %d (%v), want 0", n, err)
	}
}
