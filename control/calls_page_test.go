package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
)

// TestListCallsPaged: the live list read in pages of limit calls, each
// page's next_cursor naming the next, gives every call once and in order
// — also when calls end and start between two pages — and each page is
// byte for byte what encoding/json writes for it.
func TestListCallsPaged(t *testing.T) {
	f := newFixture(t)
	for i := range 25 {
		c := call(fmt.Sprintf("p%02d", i), "acme", "support", "100", "1001", b2bua.StateAnswered)
		// Ties, broken by id; the times are to the nanosecond.
		c.StartedAt = t0.Add(-time.Duration(30-i%10)*time.Second + time.Duration(i%10)*123457)
		f.sw.add(c)
	}
	read := func(q string) CallList {
		t.Helper()
		r := f.must(200, "GET", "/api/v1/calls?"+q, tokSup, "")
		var page CallList
		r.decode(t, &page)
		// The hand-written answer against encoding/json's.
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(page); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.body, want.Bytes()) {
			t.Fatalf("page %q:\n%s\nwant\n%s", q, r.body, want.Bytes())
		}
		return page
	}
	var whole CallList
	f.must(200, "GET", "/api/v1/calls", tokSup, "").decode(t, &whole)
	if whole.NextCursor != "" || len(whole.Calls) != 27 { // and the fixture's c1, c2
		t.Fatalf("whole list: %d calls, cursor %q", len(whole.Calls), whole.NextCursor)
	}

	// Read in pages of 4; after the second page, a call already read and
	// one not yet read end, and a call starts.
	var got []string
	page := read("limit=4")
	for n := 1; ; n++ {
		if len(page.Calls) > 4 {
			t.Fatalf("page %d has %d calls", n, len(page.Calls))
		}
		for _, c := range page.Calls {
			got = append(got, c.ID)
		}
		if n == 2 {
			f.sw.mu.Lock()
			delete(f.sw.calls, whole.Calls[1].ID)  // read
			delete(f.sw.calls, whole.Calls[20].ID) // not yet
			f.sw.mu.Unlock()
			late := call("late", "acme", "support", "100", "1001", b2bua.StateRinging)
			late.StartedAt = t0
			f.sw.add(late)
		}
		if page.NextCursor == "" {
			break
		}
		if len(page.Calls) != 4 {
			t.Fatalf("page %d has %d calls and a next page", n, len(page.Calls))
		}
		page = read("limit=4&cursor=" + page.NextCursor)
	}
	var want []string
	for i, c := range whole.Calls {
		if i != 20 {
			want = append(want, c.ID)
		}
	}
	want = append(want, "late")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged:\n%v\nwant\n%v", got, want)
	}

	// A page after the last call is empty, with no cursor: the cursor of
	// a page that ended on the last call before another call ended.
	extra := call("zz", "acme", "support", "100", "1001", b2bua.StateRinging)
	extra.StartedAt = t0.Add(time.Second)
	f.sw.add(extra)
	var all CallList
	f.must(200, "GET", "/api/v1/calls", tokSup, "").decode(t, &all)
	upToLast := read(fmt.Sprintf("limit=%d", len(all.Calls)-1))
	f.sw.mu.Lock()
	delete(f.sw.calls, "zz")
	f.sw.mu.Unlock()
	if past := read("limit=1000&cursor=" + upToLast.NextCursor); len(past.Calls) != 0 || past.NextCursor != "" {
		t.Fatalf("after the last call: %+v", past)
	}
	// Filters apply before the page.
	if p := read("limit=2&number=999"); len(p.Calls) != 0 || p.NextCursor != "" {
		t.Fatalf("filtered page: %+v", p)
	}
	for _, bad := range []struct{ q, field string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"},
		{"cursor=***", "cursor"}, {"cursor=AAAA", "cursor"}, {"cursor=AAAAAAAAAAA", "cursor"},
	} {
		f.do("GET", "/api/v1/calls?"+bad.q, tokSup, "").problem(t, 400, bad.field)
	}
}
