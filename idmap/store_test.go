package idmap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// backend opens a store on one location (a SQLite file, a PostgreSQL
// schema); every call reaches the same data, so a test can close and reopen.
// It closes the store when the test ends.
type backend func(tb testing.TB, opt Options) Store

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

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
	t.Run("ReserveCommitLookup", func(t *testing.T) {
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
		s := fresh(t)(t, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Reserve(ctx, Reservation{Owner: owner})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("Reserve with a cancelled context = %v, want context.Canceled and not ErrUnavailable", err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		s := fresh(t)(t, Options{})
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func equalPending(a, b []Pending) bool {
	return slices.EqualFunc(a, b, func(x, y Pending) bool {
		return x.LegacyID == y.LegacyID && x.Owner == y.Owner && x.IdemKey == y.IdemKey &&
			string(x.Intent) == string(y.Intent) && (x.Intent == nil) == (y.Intent == nil) &&
			x.CreatedAt.Equal(y.CreatedAt) && x.Attempts == y.Attempts
	})
}

func TestSQLitePath(t *testing.T) {
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
