package idmap

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func reserveRequest(tb testing.TB, s Store, r Reservation, k RequestKey) Claim {
	tb.Helper()
	c, err := s.ReserveRequest(tb.Context(), r, k)
	if err != nil {
		tb.Fatalf("ReserveRequest(%+v, %+v): %v", r, k, err)
	}
	return c
}

func wantKind(tb testing.TB, c Claim, kind ClaimKind, legacyID int64) {
	tb.Helper()
	if c.Kind != kind || (legacyID != 0 && c.LegacyID != legacyID) {
		tb.Fatalf("claim = %+v, want kind %d on legacy id %d", c, kind, legacyID)
	}
}

// testRequests is the conformance suite of ReserveRequest and
// DeleteRequestsBefore, part of testStore.
func testRequests(t *testing.T, fresh func(tb testing.TB) backend) {
	t.Run("RequestLifecycle", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		k := RequestKey{ID: "rid-hash", Params: "p1", Since: clk.Now().Add(-time.Hour), Lease: time.Minute}
		first := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "idem-1", Intent: []byte("sealed")}, k)
		wantKind(t, first, ClaimNew, 0)
		if first.IdemKey != "idem-1" {
			t.Fatalf("new claim's key = %q, want idem-1", first.IdemKey)
		}
		wantLookup(t, s, owner, first.LegacyID, "") // pending, as Reserve's

		// While the first request holds its lease, a retry waits.
		busy := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "idem-2"}, k)
		wantKind(t, busy, ClaimBusy, first.LegacyID)
		if want := clk.Now().Add(time.Minute); !busy.ClaimedUntil.Equal(want) {
			t.Fatalf("busy until %v, want %v", busy.ClaimedUntil, want)
		}
		// The lease keeps the Reconciler off too.
		if ps := stale(t, s, clk.Now().Add(time.Hour), time.Minute, 10); len(ps) != 0 {
			t.Fatalf("Stale during the lease = %v, want none", ids(ps))
		}
		// Other parameters are refused, whatever the row's state.
		if _, err := s.ReserveRequest(t.Context(), Reservation{Owner: owner, IdemKey: "x"},
			RequestKey{ID: "rid-hash", Params: "p2", Since: k.Since, Lease: time.Minute}); !errors.Is(err, ErrRequestConflict) {
			t.Fatalf("ReserveRequest with other params = %v, want ErrRequestConflict", err)
		}
		// The same hash of another owner is another request.
		wantKind(t, reserveRequest(t, s, Reservation{Owner: other, IdemKey: "o"}, k), ClaimNew, 0)

		// The lease ends: one retry takes the row over, under its key.
		clk.Advance(time.Minute)
		taken := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "idem-3"}, k)
		wantKind(t, taken, ClaimTaken, first.LegacyID)
		if taken.IdemKey != "idem-1" {
			t.Fatalf("taken claim's key = %q, want the row's idem-1", taken.IdemKey)
		}
		wantKind(t, reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "idem-4"}, k), ClaimBusy, first.LegacyID)

		commit(t, s, first.LegacyID, "native-1")
		active := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "idem-5"}, k)
		wantKind(t, active, ClaimActive, first.LegacyID)
		if active.NativeID != "native-1" {
			t.Fatalf("active claim's native id = %q, want native-1", active.NativeID)
		}
	})

	t.Run("RequestAfterDefiniteNo", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		k := RequestKey{ID: "r", Params: "p", Since: clk.Now().Add(-time.Hour), Lease: time.Minute}
		first := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "a"}, k)
		release(t, s, first.LegacyID)
		again := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "b"}, k)
		wantKind(t, again, ClaimNew, 0)
		if again.LegacyID == first.LegacyID || again.IdemKey != "b" {
			t.Fatalf("retry after a void row = %+v, want a new row under key b", again)
		}
		// The void row is not brought back.
		wantKind(t, reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "c"}, k), ClaimBusy, again.LegacyID)
	})

	t.Run("RequestWindow", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		first := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "a"},
			RequestKey{ID: "r", Params: "p", Since: clk.Now(), Lease: time.Minute})
		commit(t, s, first.LegacyID, "native-old")
		clk.Advance(25 * time.Hour)
		k := RequestKey{ID: "r", Params: "other", Since: clk.Now().Add(-24 * time.Hour), Lease: time.Minute}
		// Past the window the binding is ignored: other params are fine.
		late := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "b"}, k)
		wantKind(t, late, ClaimNew, 0)
		if late.LegacyID == first.LegacyID {
			t.Fatalf("a request past its window got its old row %d", first.LegacyID)
		}
		wantLookup(t, s, owner, first.LegacyID, "native-old") // the old purchase is untouched

		// Retention deletes bindings only, oldest first, in batches.
		for i := range 3 {
			reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "x"},
				RequestKey{ID: fmt.Sprint("young", i), Params: "p", Since: k.Since, Lease: time.Minute})
		}
		n, err := s.DeleteRequestsBefore(t.Context(), clk.Now(), 2)
		if err != nil || n != 0 {
			t.Fatalf("DeleteRequestsBefore(now) = %d, %v; want 0 (every binding was made now)", n, err)
		}
		clk.Advance(time.Second)
		if n, err := s.DeleteRequestsBefore(t.Context(), clk.Now(), 3); err != nil || n != 3 {
			t.Fatalf("DeleteRequestsBefore = %d, %v; want 3", n, err)
		}
		if n, err := s.DeleteRequestsBefore(t.Context(), clk.Now(), 3); err != nil || n != 1 {
			t.Fatalf("second DeleteRequestsBefore = %d, %v; want 1", n, err)
		}
		if _, err := s.DeleteRequestsBefore(t.Context(), clk.Now(), 0); err == nil {
			t.Fatal("DeleteRequestsBefore with limit 0 succeeded")
		}
		wantLookup(t, s, owner, first.LegacyID, "native-old")
		// With its binding gone, the request ID starts afresh.
		wantKind(t, reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "c"}, k), ClaimNew, 0)
	})

	t.Run("RequestRowDeleted", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		k := RequestKey{ID: "r", Params: "p", Since: clk.Now().Add(-time.Hour), Lease: time.Minute}
		first := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "a"}, k)
		release(t, s, first.LegacyID)
		if n, err := s.DeleteBefore(t.Context(), clk.Now().Add(time.Second), 10); err != nil || n != 1 {
			t.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
		}
		wantKind(t, reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "b"}, k), ClaimNew, 0)
	})

	t.Run("RequestValidates", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		for _, tc := range []struct {
			r Reservation
			k RequestKey
		}{
			{Reservation{IdemKey: "a"}, RequestKey{ID: "r", Lease: time.Minute}},
			{Reservation{Owner: owner}, RequestKey{Lease: time.Minute}},
			{Reservation{Owner: owner}, RequestKey{ID: "r"}},
		} {
			if _, err := s.ReserveRequest(t.Context(), tc.r, tc.k); err == nil || errors.Is(err, ErrUnavailable) {
				t.Errorf("ReserveRequest(%+v, %+v) = %v, want a usage error", tc.r, tc.k, err)
			}
		}
	})

	// Many callers at once on one request ID: exactly one reserves, every
	// other waits, and none makes a second row.
	t.Run("RequestConcurrent", func(t *testing.T) {
		t.Parallel()
		open := fresh(t)
		a, b := open(t, Options{}), open(t, Options{})
		k := RequestKey{ID: "race", Params: "p", Since: time.Now().Add(-time.Hour), Lease: time.Minute}
		var mu sync.Mutex
		kinds := map[ClaimKind]int{}
		rows := map[int64]bool{}
		var wg sync.WaitGroup
		for i := range 16 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				c, err := s.ReserveRequest(t.Context(), Reservation{Owner: owner, IdemKey: fmt.Sprint("k", i)}, k)
				if err != nil {
					t.Errorf("ReserveRequest: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				kinds[c.Kind]++
				rows[c.LegacyID] = true
			})
		}
		wg.Wait()
		if kinds[ClaimNew] != 1 || kinds[ClaimBusy] != 15 || len(rows) != 1 {
			t.Fatalf("claims by kind %v on rows %v, want one new and 15 busy on one row", kinds, rows)
		}
		if ps := stale(t, a, time.Now().Add(time.Hour), time.Hour, 100); len(ps) != 0 {
			t.Fatalf("pending rows claimable = %v, want none (the one row is leased)", ids(ps))
		}
	})
}
