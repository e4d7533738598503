package idmap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
)

// backend opens a store on one location (a SQLite file, a PostgreSQL
// schema); every call reaches the same data, so a test can close and reopen.
// It closes the store when the test ends.
type backend func(tb testing.TB, opt Options) Store

// clock is a settable Options.Now.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.At(time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)) }

const (
	owner = "owner-fingerprint-a"
	other = "owner-fingerprint-b"
)

func reserve(tb testing.TB, s Store, r Reservation) int64 {
	tb.Helper()
	id, err := s.Reserve(tb.Context(), r)
	if err != nil {
		tb.Fatalf("Reserve(%+v): %v", r, err)
	}
	return id
}

func commit(tb testing.TB, s Store, id int64, nativeID string) {
	tb.Helper()
	if err := s.Commit(tb.Context(), id, nativeID); err != nil {
		tb.Fatalf("Commit(%d, %q): %v", id, nativeID, err)
	}
}

func release(tb testing.TB, s Store, id int64) {
	tb.Helper()
	if err := s.Release(tb.Context(), id); err != nil {
		tb.Fatalf("Release(%d): %v", id, err)
	}
}

// wantLookup checks that Lookup gives want, or ErrNotFound if want is "".
func wantLookup(tb testing.TB, s Store, owner string, id int64, want string) {
	tb.Helper()
	got, err := s.Lookup(tb.Context(), owner, id)
	if want == "" {
		if !errors.Is(err, ErrNotFound) {
			tb.Fatalf("Lookup(%q, %d) = %q, %v; want ErrNotFound", owner, id, got, err)
		}
		return
	}
	if err != nil || got != want {
		tb.Fatalf("Lookup(%q, %d) = %q, %v; want %q", owner, id, got, err, want)
	}
}

func stale(tb testing.TB, s Store, before time.Time, lease time.Duration, limit int) []Pending {
	tb.Helper()
	ps, err := s.Stale(tb.Context(), before, lease, limit)
	if err != nil {
		tb.Fatalf("Stale: %v", err)
	}
	return ps
}

func ids(ps []Pending) []int64 {
	var out []int64
	for _, p := range ps {
		out = append(out, p.LegacyID)
	}
	return out
}

// testStore is the conformance suite every Store passes.
func testStore(t *testing.T, fresh func(tb testing.TB) backend) {
	testRequests(t, fresh)
	testCallbacks(t, fresh)
	t.Run("ReserveCommitLookup", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		id := reserve(t, s, Reservation{Owner: owner, IdemKey: "k1", Intent: []byte("sealed")})
		if id != 100000001 {
			t.Fatalf("first legacy id = %d, want 100000001", id)
		}
		wantLookup(t, s, owner, id, "") // pending is invisible
		commit(t, s, id, "native-1")
		wantLookup(t, s, owner, id, "native-1")
		wantLookup(t, s, other, id, "") // another owner's row looks missing
		wantLookup(t, s, owner, id+1000, "")
	})

	t.Run("CommitNotPending", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			setup func(tb testing.TB, s Store, id int64)
			want  string // Lookup after the failed commit; "" for ErrNotFound
		}{
			{"committed twice", func(tb testing.TB, s Store, id int64) { commit(tb, s, id, "first") }, "first"},
			{"released", func(tb testing.TB, s Store, id int64) { release(tb, s, id) }, ""},
			{"missing", func(tb testing.TB, s Store, id int64) {
				commit(tb, s, id, "gone")
				if n, err := s.DeleteBefore(tb.Context(), time.Now().Add(100*365*24*time.Hour), 10); err != nil || n != 1 {
					tb.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
				}
			}, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := fresh(t)(t, Options{})
				id := reserve(t, s, Reservation{Owner: owner, IdemKey: "k"})
				tc.setup(t, s, id)
				if err := s.Commit(t.Context(), id, "second"); !errors.Is(err, ErrNotPending) {
					t.Fatalf("Commit = %v, want ErrNotPending", err)
				}
				wantLookup(t, s, owner, id, tc.want)
			})
		}
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		pending := reserve(t, s, Reservation{Owner: owner, IdemKey: "p", Intent: []byte("x")})
		active := reserve(t, s, Reservation{Owner: owner, IdemKey: "a"})
		commit(t, s, active, "native-a")

		release(t, s, pending)
		release(t, s, pending) // idempotent
		wantLookup(t, s, owner, pending, "")
		if err := s.Commit(t.Context(), pending, "late"); !errors.Is(err, ErrNotPending) {
			t.Fatalf("Commit after Release = %v, want ErrNotPending", err)
		}
		release(t, s, active+1000) // missing: nothing to do
		if err := s.Release(t.Context(), active); !errors.Is(err, ErrNotPending) {
			t.Fatalf("Release(active) = %v, want ErrNotPending", err)
		}
		wantLookup(t, s, owner, active, "native-a")
		if ps := stale(t, s, time.Now().Add(time.Hour*24*365*100), time.Minute, 10); len(ps) != 0 {
			t.Fatalf("Stale after Release = %v, want none", ids(ps))
		}
	})

	t.Run("ValidatesArguments", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		id := reserve(t, s, Reservation{Owner: owner})
		tests := []struct {
			name string
			call func() error
		}{
			{"empty owner", func() error { _, err := s.Reserve(t.Context(), Reservation{IdemKey: "k"}); return err }},
			{"empty native id", func() error { return s.Commit(t.Context(), id, "") }},
			{"zero lease", func() error { _, err := s.Stale(t.Context(), time.Now(), 0, 1); return err }},
			{"zero stale limit", func() error { _, err := s.Stale(t.Context(), time.Now(), time.Minute, 0); return err }},
			{"zero delete limit", func() error { _, err := s.DeleteBefore(t.Context(), time.Now(), 0); return err }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if err == nil || errors.Is(err, ErrUnavailable) {
					t.Fatalf("got %v, want an argument error", err)
				}
			})
		}
		wantLookup(t, s, owner, id, "") // the failed commit changed nothing
		commit(t, s, id, "n")
	})

	t.Run("StaleClaimsAndLeases", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		t0 := clk.Now()
		a := reserve(t, s, Reservation{Owner: owner, IdemKey: "ka", Intent: []byte("intent-a")})
		b := reserve(t, s, Reservation{Owner: other, IdemKey: "kb"})
		c := reserve(t, s, Reservation{Owner: owner, IdemKey: "kc", Intent: []byte("intent-c")})
		commit(t, s, c, "native-c") // committed: not stale
		clk.Advance(10 * time.Minute)
		reserve(t, s, Reservation{Owner: owner, IdemKey: "fresh"}) // too young
		before := clk.Now().Add(-5 * time.Minute)

		got := stale(t, s, before, time.Minute, 10)
		want := []Pending{
			{LegacyID: a, Owner: owner, IdemKey: "ka", Intent: []byte("intent-a"), CreatedAt: t0.Truncate(time.Microsecond), Attempts: 1},
			{LegacyID: b, Owner: other, IdemKey: "kb", CreatedAt: t0.Truncate(time.Microsecond), Attempts: 1},
		}
		if !equalPending(got, want) {
			t.Fatalf("Stale = %+v\nwant %+v", got, want)
		}
		if ps := stale(t, s, before, time.Minute, 10); len(ps) != 0 {
			t.Fatalf("Stale during lease = %v, want none", ids(ps))
		}
		clk.Advance(59 * time.Second)
		if ps := stale(t, s, before, time.Minute, 10); len(ps) != 0 {
			t.Fatalf("Stale 1s before lease end = %v, want none", ids(ps))
		}
		clk.Advance(time.Second)
		got = stale(t, s, before, time.Minute, 10)
		if !slices.Equal(ids(got), []int64{a, b}) || got[0].Attempts != 2 || got[1].Attempts != 2 {
			t.Fatalf("Stale after lease = %+v, want %d and %d with 2 attempts", got, a, b)
		}

		clk.Advance(time.Minute)
		for _, wantID := range []int64{a, b} {
			got := stale(t, s, before, time.Minute, 1)
			if len(got) != 1 || got[0].LegacyID != wantID || got[0].Attempts != 3 {
				t.Fatalf("Stale(limit 1) = %+v, want %d with 3 attempts", got, wantID)
			}
		}
		if ps := stale(t, s, before, time.Minute, 1); len(ps) != 0 {
			t.Fatalf("Stale after claiming all = %v, want none", ids(ps))
		}
		commit(t, s, a, "native-a") // a claim does not block Commit
		release(t, s, b)
		clk.Advance(time.Hour)
		if ps := stale(t, s, before, time.Minute, 10); len(ps) != 0 {
			t.Fatalf("Stale after resolving = %v, want none", ids(ps))
		}
	})

	t.Run("DeleteBefore", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		var old []int64
		for i := range 3 {
			id := reserve(t, s, Reservation{Owner: owner, IdemKey: fmt.Sprint(i)})
			commit(t, s, id, fmt.Sprint("native-", i))
			old = append(old, id)
		}
		void := reserve(t, s, Reservation{Owner: owner, IdemKey: "void"})
		release(t, s, void)
		pending := reserve(t, s, Reservation{Owner: owner, IdemKey: "pending", Intent: []byte("keep")})
		clk.Advance(time.Hour)
		cutoff := clk.Now()
		young := reserve(t, s, Reservation{Owner: owner, IdemKey: "young"})
		commit(t, s, young, "native-young")

		for i, want := range []int64{2, 2, 0} {
			n, err := s.DeleteBefore(t.Context(), cutoff, 2)
			if err != nil || n != want {
				t.Fatalf("DeleteBefore batch %d = %d, %v; want %d", i, n, err, want)
			}
		}
		for _, id := range old {
			wantLookup(t, s, owner, id, "")
		}
		wantLookup(t, s, owner, young, "native-young")
		got := stale(t, s, cutoff, time.Minute, 10)
		if !slices.Equal(ids(got), []int64{pending}) || string(got[0].Intent) != "keep" {
			t.Fatalf("Stale after DeleteBefore = %+v, want the pending row %d", got, pending)
		}
		commit(t, s, pending, "native-pending")
		wantLookup(t, s, owner, pending, "native-pending")
	})

	t.Run("IDsIncreaseAndAreNeverReused", func(t *testing.T) {
		t.Parallel()
		open := fresh(t)
		s := open(t, Options{})
		last := int64(100000000)
		for i := range 5 {
			id := reserve(t, s, Reservation{Owner: owner, IdemKey: fmt.Sprint(i)})
			if id <= last {
				t.Fatalf("legacy id %d after %d, want strictly increasing", id, last)
			}
			if i == 0 && id != 100000001 {
				t.Fatalf("first legacy id = %d, want 100000001", id)
			}
			commit(t, s, id, fmt.Sprint("n", i))
			last = id
		}
		n, err := s.DeleteBefore(t.Context(), time.Now().Add(100*365*24*time.Hour), 100)
		if err != nil || n != 5 {
			t.Fatalf("DeleteBefore = %d, %v; want 5", n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = open(t, Options{})
		if id := reserve(t, s, Reservation{Owner: owner, IdemKey: "after"}); id <= last {
			t.Fatalf("legacy id after deleting all and reopening = %d, want > %d", id, last)
		}
	})

	t.Run("ConcurrentReserveCommit", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{OpTimeout: time.Minute})
		const n = 200
		got := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				id, err := s.Reserve(t.Context(), Reservation{Owner: owner, IdemKey: fmt.Sprint(i)})
				if err == nil {
					err = s.Commit(t.Context(), id, fmt.Sprint("native-", id))
				}
				got[i], errs[i] = id, err
			})
		}
		wg.Wait()
		seen := make(map[int64]bool, n)
		for i, id := range got {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if seen[id] {
				t.Fatalf("legacy id %d handed out twice", id)
			}
			seen[id] = true
			wantLookup(t, s, owner, id, fmt.Sprint("native-", id))
		}
	})

	t.Run("DurableAcrossReopen", func(t *testing.T) {
		t.Parallel()
		open := fresh(t)
		clk := newClock()
		s := open(t, Options{Now: clk.Now})
		active := reserve(t, s, Reservation{Owner: owner, IdemKey: "a"})
		commit(t, s, active, "native-a")
		pending := reserve(t, s, Reservation{Owner: other, IdemKey: "p", Intent: []byte{0, 1, 2, 0xff}})
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = open(t, Options{Now: clk.Now})
		wantLookup(t, s, owner, active, "native-a")
		got := stale(t, s, clk.Now().Add(time.Second), time.Minute, 10)
		want := []Pending{{LegacyID: pending, Owner: other, IdemKey: "p", Intent: []byte{0, 1, 2, 0xff},
			CreatedAt: clk.Now().Truncate(time.Microsecond), Attempts: 1}}
		if !equalPending(got, want) {
			t.Fatalf("Stale after reopen = %+v\nwant %+v", got, want)
		}
	})

	t.Run("CallerCancel", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Reserve(ctx, Reservation{Owner: owner})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("Reserve with a cancelled context = %v, want context.Canceled and not ErrUnavailable", err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	t.Run("LegacyIDs", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		a := reserve(t, s, Reservation{Owner: owner, IdemKey: "a"})
		commit(t, s, a, "native-a")
		b := reserve(t, s, Reservation{Owner: owner, IdemKey: "b"})
		commit(t, s, b, "native-b")
		pending := reserve(t, s, Reservation{Owner: owner, IdemKey: "p", Intent: []byte("x")})
		void := reserve(t, s, Reservation{Owner: owner, IdemKey: "v"})
		release(t, s, void)
		theirs := reserve(t, s, Reservation{Owner: other, IdemKey: "o"})
		commit(t, s, theirs, "native-o")
		mineShared := reserve(t, s, Reservation{Owner: owner, IdemKey: "s1"})
		commit(t, s, mineShared, "native-shared")
		theirsShared := reserve(t, s, Reservation{Owner: other, IdemKey: "s2"})
		commit(t, s, theirsShared, "native-shared")
		firstDup := reserve(t, s, Reservation{Owner: owner, IdemKey: "d1"})
		secondDup := reserve(t, s, Reservation{Owner: owner, IdemKey: "d2"})
		commit(t, s, secondDup, "native-dup") // committed first, but the larger ID
		commit(t, s, firstDup, "native-dup")

		tests := []struct {
			name  string
			owner string
			ask   []string
			want  map[string]int64
		}{
			{"found", owner, []string{"native-a", "native-b"}, map[string]int64{"native-a": a, "native-b": b}},
			{"absent", owner, []string{"native-missing"}, map[string]int64{}},
			{"found and absent", owner, []string{"native-missing", "native-b"}, map[string]int64{"native-b": b}},
			{"another owner's row", owner, []string{"native-o"}, map[string]int64{}},
			{"the other owner sees it", other, []string{"native-o", "native-a"}, map[string]int64{"native-o": theirs}},
			{"one native id, two owners: mine", owner, []string{"native-shared"}, map[string]int64{"native-shared": mineShared}},
			{"one native id, two owners: theirs", other, []string{"native-shared"}, map[string]int64{"native-shared": theirsShared}},
			{"two rows with one native id give the smaller legacy id", owner, []string{"native-dup"},
				map[string]int64{"native-dup": firstDup}},
			{"repeats in the input", owner, []string{"native-a", "native-a", "native-b", "native-a"},
				map[string]int64{"native-a": a, "native-b": b}},
			{"empty strings in the input", owner, []string{"", "native-a", ""}, map[string]int64{"native-a": a}},
			{"only empty strings", owner, []string{""}, map[string]int64{}},
			{"empty input", owner, []string{}, map[string]int64{}},
			{"nil input", owner, nil, map[string]int64{}},
			{"empty owner", "", []string{"native-a"}, map[string]int64{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantLegacyIDs(t, s, tc.owner, tc.ask, tc.want)
			})
		}

		// A pending row has no native ID until Commit gives it one; a void
		// row never gets one.
		wantLegacyIDs(t, s, owner, []string{"native-p"}, map[string]int64{})
		commit(t, s, pending, "native-p")
		wantLegacyIDs(t, s, owner, []string{"native-p"}, map[string]int64{"native-p": pending})
		if err := s.Commit(t.Context(), void, "native-v"); !errors.Is(err, ErrNotPending) {
			t.Fatalf("Commit(void) = %v, want ErrNotPending", err)
		}
		wantLegacyIDs(t, s, owner, []string{"native-v"}, map[string]int64{})
	})

	t.Run("LegacyIDsBound", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		first := reserve(t, s, Reservation{Owner: owner})
		commit(t, s, first, "native-first")
		last := reserve(t, s, Reservation{Owner: owner})
		commit(t, s, last, "native-last")
		full := make([]string, MaxNativeIDs)
		for i := range full {
			full[i] = fmt.Sprint("native-absent-", i)
		}
		full[0], full[len(full)-1] = "native-first", "native-last"
		wantLegacyIDs(t, s, owner, full, map[string]int64{"native-first": first, "native-last": last})

		repeats := slices.Repeat([]string{"native-first"}, MaxNativeIDs)
		wantLegacyIDs(t, s, owner, repeats, map[string]int64{"native-first": first})

		for name, ask := range map[string][]string{
			"one too many":              append(slices.Clone(full), "native-first"),
			"one too many, all repeats": append(repeats, "native-first"),
		} {
			t.Run(name, func(t *testing.T) {
				got, err := s.LegacyIDs(t.Context(), owner, ask)
				if err == nil || errors.Is(err, ErrUnavailable) || got != nil {
					t.Fatalf("LegacyIDs(%d ids) = %v, %v; want nil and an argument error", len(ask), got, err)
				}
			})
		}
	})

	t.Run("LegacyIDsAfterRetention", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		old := reserve(t, s, Reservation{Owner: owner, IdemKey: "old"})
		commit(t, s, old, "native-old")
		clk.Advance(time.Hour)
		cutoff := clk.Now()
		young := reserve(t, s, Reservation{Owner: owner, IdemKey: "young"})
		commit(t, s, young, "native-young")
		ask := []string{"native-old", "native-young"}
		wantLegacyIDs(t, s, owner, ask, map[string]int64{"native-old": old, "native-young": young})
		if n, err := s.DeleteBefore(t.Context(), cutoff, 10); err != nil || n != 1 {
			t.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
		}
		wantLegacyIDs(t, s, owner, ask, map[string]int64{"native-young": young})
	})

	t.Run("LegacyIDsErrors", func(t *testing.T) {
		t.Parallel()
		open := fresh(t)
		s := open(t, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.LegacyIDs(ctx, owner, []string{"native"})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("LegacyIDs with a cancelled context = %v, want context.Canceled and not ErrUnavailable", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := s.LegacyIDs(t.Context(), owner, []string{"native"}); err == nil {
			t.Fatal("LegacyIDs after Close succeeded, want an error")
		}
		// An empty question is answered without asking the store.
		got, err := s.LegacyIDs(t.Context(), owner, nil)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("LegacyIDs(nil) after Close = %v, %v; want an empty map", got, err)
		}
	})
}

// wantLegacyIDs checks that LegacyIDs gives exactly want (never nil).
func wantLegacyIDs(tb testing.TB, s Store, owner string, ask []string, want map[string]int64) {
	tb.Helper()
	got, err := s.LegacyIDs(tb.Context(), owner, ask)
	if err != nil || got == nil || !maps.Equal(got, want) {
		tb.Fatalf("LegacyIDs(%q, %d ids) = %v, %v; want %v", owner, len(ask), got, err, want)
	}
}

func equalPending(a, b []Pending) bool {
	return slices.EqualFunc(a, b, func(x, y Pending) bool {
		return x.LegacyID == y.LegacyID && x.Owner == y.Owner && x.IdemKey == y.IdemKey &&
			string(x.Intent) == string(y.Intent) && (x.Intent == nil) == (y.Intent == nil) &&
			x.CreatedAt.Equal(y.CreatedAt) && x.Attempts == y.Attempts
	})
}

func TestSQLitePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn     string
		want    string
		wantErr bool
	}{
		{dsn: "./data/idmap.db", want: "./data/idmap.db"},
		{dsn: "/var/lib/shim/idmap.db", want: "/var/lib/shim/idmap.db"},
		{dsn: "sqlite:./data/idmap.db", want: "./data/idmap.db"},
		{dsn: "sqlite:///var/lib/idmap.db", want: "/var/lib/idmap.db"},
		{dsn: "file:/tmp/idmap.db", want: "/tmp/idmap.db"},
		{dsn: "", wantErr: true},
		{dsn: "sqlite:", wantErr: true},
		{dsn: ":memory:", wantErr: true},
		{dsn: "file::memory:", wantErr: true},
		{dsn: "file:/tmp/x.db?_pragma=synchronous(OFF)", wantErr: true},
		{dsn: "mysql://localhost/db", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			t.Parallel()
			got, err := sqlitePath(tc.dsn)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("sqlitePath(%q) = %q, want an error", tc.dsn, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("sqlitePath(%q) = %q, %v; want %q", tc.dsn, got, err, tc.want)
			}
		})
	}
}

// testUpgrade fills a store created with migration 0001 only, through the
// Store API, reopens it with every migration of dir and checks that
// LegacyIDs finds the old rows. open(tb, ms) opens the test's one location
// applying ms. usesIndex reports whether the store's LegacyIDs query can use
// the index of migration 0002.
func testUpgrade(t *testing.T, dir string, open func(tb testing.TB, ms []migration) Store,
	usesIndex func(tb testing.TB, s Store) bool,
) {
	ms, err := loadMigrations(migrationFS, dir)
	if err != nil {
		t.Fatal(err)
	}
	old := open(t, ms[:1])
	if usesIndex(t, old) {
		t.Fatal("LegacyIDs uses the index of migration 0002 on a store at 0001")
	}
	active := reserve(t, old, Reservation{Owner: owner, IdemKey: "a"})
	commit(t, old, active, "native-a")
	theirs := reserve(t, old, Reservation{Owner: other, IdemKey: "o"})
	commit(t, old, theirs, "native-o")
	pending := reserve(t, old, Reservation{Owner: owner, IdemKey: "p", Intent: []byte("x")})
	void := reserve(t, old, Reservation{Owner: owner, IdemKey: "v"})
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s := open(t, ms)
	// Release deletes the row's callback watch (0004): this code never
	// runs on an older schema, so the row journaled at 0001 is voided now.
	release(t, s, void)
	if !usesIndex(t, s) {
		t.Fatal("LegacyIDs does not use the index of migration 0002 after the upgrade")
	}
	ask := []string{"native-a", "native-o", "native-p"}
	wantLegacyIDs(t, s, owner, ask, map[string]int64{"native-a": active})
	wantLegacyIDs(t, s, other, ask, map[string]int64{"native-o": theirs})
	wantLookup(t, s, owner, active, "native-a")
	commit(t, s, pending, "native-p") // a purchase journaled before the upgrade
	wantLegacyIDs(t, s, owner, ask, map[string]int64{"native-a": active, "native-p": pending})
	if id := reserve(t, s, Reservation{Owner: owner}); id <= void {
		t.Fatalf("legacy id after the upgrade = %d, want > %d", id, void)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Reopening applies nothing twice (CREATE INDEX would fail) and keeps it all.
	s = open(t, ms)
	wantLegacyIDs(t, s, owner, ask, map[string]int64{"native-a": active, "native-p": pending})
}
