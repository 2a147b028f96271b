package control

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// encoderList is what writeJSON sends for a CallList: the reference the
// hand-written encoder must match byte for byte.
func encoderList(t testing.TB, views []CallView) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(CallList{Calls: views}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// handList is the same list through the hand-written encoder.
func handList(views []CallView) ([]byte, bool) {
	b := []byte(`{"calls":[`)
	for i := range views {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendCallView(b, &views[i]); !ok {
			return nil, false
		}
	}
	return append(b, "]}\n"...), true
}

// fullSnapshot sets every field of a snapshot to a non-zero value found
// by reflection, so that a field added to b2bua.CallSnapshot and not to
// the encoder (or to sameSnapshot) fails the tests below.
func fullSnapshot(t testing.TB) b2bua.CallSnapshot {
	t.Helper()
	var c b2bua.CallSnapshot
	fill(t, reflect.ValueOf(&c).Elem(), "x")
	return c
}

func fill(t testing.TB, v reflect.Value, s string) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600))))
	case v.Kind() == reflect.String:
		v.SetString(s + "<é>")
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf([]string{s + "1", s + "&2"}))
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), s+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("fill: no value for %s; teach fill, appendCallFields and sameSnapshot the new field", v.Type())
	}
}

func TestAppendCallViewMatchesEncoder(t *testing.T) {
	full := fullSnapshot(t)
	utc := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	odd := b2bua.CallSnapshot{ID: "q\"\\\x00\x1f\b\f\n\r\t\u2028\u2029\xff\xfe</script>&amp;", Tenant: "ü€😀",
		Caller: b2bua.Party{Number: "+1 (555)"}, StartedAt: utc}
	views := []CallView{
		{CallSnapshot: full, DurationSeconds: 12.5, HelpRequested: true},
		{CallSnapshot: b2bua.CallSnapshot{}},
		{CallSnapshot: odd, DurationSeconds: -3},
		{CallSnapshot: b2bua.CallSnapshot{ID: "a", StartedAt: utc, Agents: []string{}}, DurationSeconds: 1e-7},
		{CallSnapshot: b2bua.CallSnapshot{ID: "b", StartedAt: utc.Add(123456789)}, DurationSeconds: 1e21},
		{CallSnapshot: b2bua.CallSnapshot{ID: "c", StartedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}, DurationSeconds: 123456789.123456789},
		{CallSnapshot: b2bua.CallSnapshot{ID: "d", StartedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.Local)}, DurationSeconds: 5e-324},
	}
	got, ok := handList(views)
	if !ok {
		t.Fatal("not encoded")
	}
	if want := encoderList(t, views); !bytes.Equal(got, want) {
		t.Fatalf("hand-encoded\n%s\nencoding/json\n%s", got, want)
	}
	// Random durations, the float formatting's edge cases included.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		d := math.Float64frombits(r.Uint64())
		if math.IsNaN(d) || math.IsInf(d, 0) {
			continue
		}
		v := []CallView{{CallSnapshot: b2bua.CallSnapshot{ID: "r", StartedAt: utc}, DurationSeconds: d}}
		got, _ := handList(v)
		if want := encoderList(t, v); !bytes.Equal(got, want) {
			t.Fatalf("duration %v: %s, want %s", d, got, want)
		}
	}
}

// TestAppendJSONMillis: a whole number of milliseconds takes the fast
// path and comes out as encoding/json writes it; anything else is left
// to the general path.
func TestAppendJSONMillis(t *testing.T) {
	check := func(f float64, wantFast bool) {
		t.Helper()
		got, fast := appendJSONMillis(nil, f)
		if fast != wantFast {
			t.Fatalf("%v (bits %x): fast path %v, want %v", f, math.Float64bits(f), fast, wantFast)
		}
		if !fast {
			return
		}
		want, err := json.Marshal(f)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%v: %s, want %s (%v)", f, got, want, err)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int64{0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1010, 1100, 12345, 59999, 60000, 86400000, 1<<40 - 1} {
		check(float64(m)/1000, true)
	}
	for range 200000 {
		// Every magnitude up to 2^40 ms (35 years), and durations as a
		// call's are, through time.Duration.
		m := r.Int64N(1 << r.IntN(41))
		check(float64(m)/1000, true)
		check(durationSeconds(time.Duration(r.Int64N(1<<40))*time.Microsecond), true)
	}
	for _, f := range []float64{-0.001, float64(1<<40) / 1000, 1e21, 1e-7, 0.0005, 1.2345, math.Nextafter(1.5, 2), math.Copysign(0, -1)} {
		check(f, false)
	}
	for range 100000 {
		// Arbitrary doubles: almost none are whole milliseconds.
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if got, fast := appendJSONMillis(nil, f); fast {
			if want, _ := json.Marshal(f); !bytes.Equal(got, want) {
				t.Fatalf("%v: %s, want %s", f, got, want)
			}
		}
	}
}

// TestAppendCallViewRefuses: what encoding/json refuses, the hand encoder
// refuses too (and the handler then falls back to encoding/json).
func TestAppendCallViewRefuses(t *testing.T) {
	for _, v := range []CallView{
		{CallSnapshot: b2bua.CallSnapshot{StartedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{CallSnapshot: b2bua.CallSnapshot{EndedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{DurationSeconds: math.NaN()},
	} {
		if _, ok := appendCallView(nil, &v); ok {
			t.Errorf("%+v encoded", v)
		}
		if _, err := json.Marshal(v); err == nil {
			t.Errorf("%+v: encoding/json accepts it", v)
		}
	}
}

func FuzzAppendCallView(f *testing.F) {
	f.Add("c1", "acme", "Support <1>", "+4930\u2028", "\xff", 1.5, true)
	f.Fuzz(func(t *testing.T, id, tenant, label, caller, name string, d float64, help bool) {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return
		}
		v := []CallView{{CallSnapshot: b2bua.CallSnapshot{ID: id, Tenant: tenant, Label: label,
			Caller: b2bua.Party{Number: caller, Name: name}, Agents: []string{name, id}, StartedAt: t0},
			DurationSeconds: d, HelpRequested: help}}
		got, ok := handList(v)
		if !ok {
			t.Fatal("not encoded")
		}
		if want := encoderList(t, v); !bytes.Equal(got, want) {
			t.Fatalf("hand-encoded\n%s\nencoding/json\n%s", got, want)
		}
	})
}

func TestSameSnapshot(t *testing.T) {
	a := fullSnapshot(t)
	b := a
	b.Agents = append([]string(nil), a.Agents...)
	if !sameSnapshot(&a, &b) {
		t.Fatal("equal snapshots differ")
	}
	// Changing any one field, however deep, makes them differ.
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
			return
		}
		old := reflect.New(v.Type()).Elem()
		old.Set(v)
		switch {
		case v.Type() == reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Nanosecond)))
		case v.Kind() == reflect.String:
			v.SetString(v.String() + "!")
		case v.Kind() == reflect.Slice:
			v.Set(reflect.ValueOf([]string{"other"}))
		}
		if sameSnapshot(&a, &b) {
			t.Errorf("a change of %s goes unseen", path)
		}
		v.Set(old)
	}
	walk(reflect.ValueOf(&b).Elem(), "CallSnapshot")
	// The same instant in another zone is encoded differently.
	b = a
	b.StartedAt = a.StartedAt.UTC()
	if sameSnapshot(&a, &b) {
		t.Error("a change of zone goes unseen")
	}
}

// plainSwitch hides fakeSwitch's AppendCalls: the handler then reads
// Calls, as with any Switchboard.
type plainSwitch struct{ Switchboard }

// TestListCallsAnswer: GET /calls answers exactly what encoding/json
// gives for the sorted views, through the cache, after calls change, with
// and without AppendCalls, and through the fallback for a call that the
// hand encoder cannot encode.
func TestListCallsAnswer(t *testing.T) {
	f := newFixture(t)
	for i := range 30 {
		c := call(fmt.Sprintf("c%02d", i), []string{"acme", "zeta"}[i%2], "support", "100", "1001",
			[]b2bua.CallState{b2bua.StateRinging, b2bua.StateQueued, b2bua.StateAnswered}[i%3])
		c.StartedAt = t0.Add(-time.Duration(i%7) * time.Second) // ties, broken by id
		c.Label = "Support & <Sales>"
		f.sw.add(c)
	}
	want := func(token string) []byte {
		req := httptest.NewRequest("GET", "/api/v1/calls", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		p, ok := f.svc.auth.principal(req)
		if !ok {
			t.Fatalf("token %s", token)
		}
		now := f.now()
		var views []CallView
		for _, c := range f.sw.Calls() {
			if callVisible(&c, p) {
				views = append(views, f.svc.view(&c, now))
			}
		}
		slices.SortFunc(views, func(a, b CallView) int {
			return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
		})
		if views == nil {
			views = []CallView{}
		}
		return encoderList(t, views)
	}
	check := func(step string) {
		t.Helper()
		for _, tok := range []string{tokSup, tokOtherSup, tokAgent, tokAgent2} {
			r := f.must(200, "GET", "/api/v1/calls", tok, "")
			if w := want(tok); !bytes.Equal(r.body, w) {
				t.Fatalf("%s, %s:\n%s\nwant\n%s", step, tok, r.body, w)
			}
			if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		}
	}
	check("first list")
	check("from the cache")
	// Calls change: answered, given agents, ended; time passes.
	c, _ := f.sw.Call("c00")
	c.State, c.AnsweredAt, c.Agents = b2bua.StateAnswered, t0.Add(time.Second), []string{"1002"}
	f.sw.add(c)
	c, _ = f.sw.Call("c02")
	c.State, c.EndedAt, c.EndReason = b2bua.StateEnded, t0.Add(2*time.Second), b2bua.EndCallerHangup
	f.sw.add(c)
	f.setNow(t0.Add(90 * time.Second))
	check("after changes")
	// A call leaves the middle of the order and others start before,
	// between and after the listed ones: the walk beside the last list
	// must skip, insert and append.
	f.sw.mu.Lock()
	delete(f.sw.calls, "c10")
	f.sw.mu.Unlock()
	for i, at := range []time.Duration{-10 * time.Second, -3*time.Second - time.Millisecond, -3 * time.Second, time.Second} {
		c := call(fmt.Sprintf("n%d", i), "acme", "support", "100", "1001", b2bua.StateRinging)
		c.StartedAt = t0.Add(at)
		f.sw.add(c)
	}
	check("calls gone and new")
	check("from the cache again")
	f.svc.sw = plainSwitch{f.sw}
	check("without AppendCalls")
	c, _ = f.sw.Call("c04")
	c.QueuedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	f.sw.add(c)
	r := f.must(200, "GET", "/api/v1/calls", tokSup, "")
	if len(r.body) != 0 {
		// encoding/json refuses the year and writeJSON sends no body;
		// the hand encoder must not send a different answer.
		t.Fatalf("year 10000: %s", r.body)
	}
}

// TestCallJSONCacheSweep: calls that ended leave the cache once it holds
// far more calls than are live.
func TestCallJSONCacheSweep(t *testing.T) {
	var cc callJSONCache
	items := func(prefix string, n int) []listItem {
		out := make([]listItem, n)
		for i := range out {
			out[i] = listItem{c: &b2bua.CallSnapshot{ID: fmt.Sprintf("%s%d", prefix, i), StartedAt: t0}}
		}
		return out
	}
	var buf []byte
	for round := range 5 {
		buf, _ = cc.appendList(buf[:0], items(fmt.Sprint(round, "-"), 1000), "", 1000, t0)
	}
	if n := len(cc.m); n > 2*1000+cacheSlack {
		t.Fatalf("%d entries kept with 1,000 live calls", n)
	}
	if !strings.HasSuffix(string(buf), "]}\n") {
		t.Fatalf("answer %q", buf[len(buf)-10:])
	}
	var list CallList
	if err := json.Unmarshal(buf, &list); err != nil || len(list.Calls) != 1000 || list.Calls[0].ID != "4-0" {
		t.Fatalf("%v, %d calls", err, len(list.Calls))
	}
}

// TestListCallsConcurrent: lists from both tenants in parallel while calls
// change; each answer is a valid list of the caller's tenant only (run
// with -race for the cache's locking).
func TestListCallsConcurrent(t *testing.T) {
	f := newFixture(t)
	for i := range 200 {
		f.sw.add(call(fmt.Sprintf("p%d", i), []string{"acme", "zeta"}[i%2], "support", "100", "1001", b2bua.StateAnswered))
	}
	want := map[string]int{} // the fixture has calls of its own
	for _, c := range f.sw.Calls() {
		want[c.Tenant]++
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 400 {
			c, _ := f.sw.Call(fmt.Sprintf("p%d", i%200))
			c.Label = fmt.Sprint("label ", i)
			f.sw.add(c)
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, tenant := tokSup, "acme"
			if g%2 == 1 {
				tok, tenant = tokOtherSup, "zeta"
			}
			for range 25 {
				r := f.do("GET", "/api/v1/calls", tok, "")
				var list CallList
				if err := json.Unmarshal(r.body, &list); err != nil || r.code != 200 || len(list.Calls) != want[tenant] {
					t.Errorf("%d %v: %d calls", r.code, err, len(list.Calls))
					return
				}
				for _, c := range list.Calls {
					if c.Tenant != tenant {
						t.Errorf("%s sees a call of %s", tenant, c.Tenant)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	<-done
}

// TestPutCallMatchesEncoder: a stored call is the bytes encoding/json
// writes for its snapshot (the history and the ended-call list read it
// back with encoding/json), and a snapshot the hand encoder refuses is
// refused as before.
func TestPutCallMatchesEncoder(t *testing.T) {
	db, err := openDB(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	utc := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, c := range []b2bua.CallSnapshot{
		fullSnapshot(t),
		{ID: "q\"\\\x00\x1f\u2028\xff</script>", Tenant: "ü€😀", Caller: b2bua.Party{Number: "+1 (555)"}, StartedAt: utc},
		{ID: "a", Tenant: "t", StartedAt: utc, Agents: []string{}},
		{ID: "d", Tenant: "t", StartedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.Local)},
	} {
		want, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		err = db.Update(func(tx *bolt.Tx) error {
			if err := putCall(tx, &c); err != nil {
				return err
			}
			b, err := tenantBucket(tx, bucketCalls, c.Tenant, false)
			if err != nil {
				return err
			}
			got = bytes.Clone(b.Get(timeKey(c.StartedAt, []byte(c.ID))))
			return nil
		})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("call %d stored\n%s\nencoding/json\n%s", i, got, want)
		}
	}
	bad := b2bua.CallSnapshot{ID: "y", Tenant: "t", StartedAt: utc, EndedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := db.Update(func(tx *bolt.Tx) error { return putCall(tx, &bad) }); err == nil {
		t.Fatal("a call ending in the year 10000 was stored")
	}
}
