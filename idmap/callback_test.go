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

func dueWatches(tb testing.TB, s Store, lease time.Duration, limit int) []WatchClaim {
	tb.Helper()
	ws, err := s.DueWatches(tb.Context(), lease, limit)
	if err != nil {
		tb.Fatalf("DueWatches: %v", err)
	}
	return ws
}

func dueEvents(tb testing.TB, s Store, lease time.Duration, limit int) []DueEvent {
	tb.Helper()
	es, err := s.DueEvents(tb.Context(), lease, limit)
	if err != nil {
		tb.Fatalf("DueEvents: %v", err)
	}
	return es
}

func watchIDs(ws []WatchClaim) []int64 {
	var out []int64
	for _, w := range ws {
		out = append(out, w.LegacyID)
	}
	return out
}

func eventIDs(es []DueEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func watched(url string) *Watch {
	return &Watch{URL: url, Key: []byte("sealed-key-" + url), State: "WAITING"}
}

// testCallbacks is the conformance suite of the callback watches and the
// outbox, part of testStore.
func testCallbacks(t *testing.T, fresh func(tb testing.TB) backend) {
	t.Run("WatchLifecycle", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		id := reserve(t, s, Reservation{Owner: owner, IdemKey: "k1", Watch: watched("https://a.example/hook")})
		voided := reserve(t, s, Reservation{Owner: owner, IdemKey: "k2", Watch: watched("https://b.example/hook")})
		plain := reserve(t, s, Reservation{Owner: owner, IdemKey: "k3"})
		// Pending rows' watches are inert.
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 0 {
			t.Fatalf("DueWatches of pending rows = %v, want none", watchIDs(ws))
		}
		commit(t, s, id, "native-1")
		commit(t, s, plain, "native-3")
		release(t, s, voided)
		commit(t, s, reserve(t, s, Reservation{Owner: owner, IdemKey: "k4"}), "native-4")
		ws := dueWatches(t, s, time.Minute, 10)
		if len(ws) != 1 {
			t.Fatalf("DueWatches = %v, want only %d", watchIDs(ws), id)
		}
		w := ws[0]
		want := WatchClaim{LegacyID: id, Owner: owner, NativeID: "native-1", URL: "https://a.example/hook",
			Key: []byte("sealed-key-https://a.example/hook"), State: "WAITING", Seq: 0, CreatedAt: clk.Now(), Attempts: 1}
		if w.LegacyID != want.LegacyID || w.Owner != want.Owner || w.NativeID != want.NativeID || w.URL != want.URL ||
			string(w.Key) != string(want.Key) || w.State != want.State || w.Seq != 0 || !w.CreatedAt.Equal(want.CreatedAt) || w.Attempts != 1 {
			t.Fatalf("claim = %+v, want %+v", w, want)
		}
		// Claimed: not due again until the lease ends.
		clk.Advance(59 * time.Second)
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 0 {
			t.Fatalf("DueWatches during the lease = %v, want none", watchIDs(ws))
		}
		clk.Advance(time.Second)
		again := dueWatches(t, s, time.Minute, 10)
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("DueWatches after the lease = %+v, want the watch, attempt 2", again)
		}
		// A poll with nothing new reschedules it.
		if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "WAITING", NextPoll: clk.Now().Add(5 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(4 * time.Second)
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 0 {
			t.Fatalf("DueWatches before its next poll = %v, want none", watchIDs(ws))
		}
		clk.Advance(time.Second)
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 1 || ws[0].Seq != 0 {
			t.Fatalf("DueWatches at its next poll = %+v, want it, seq 0", ws)
		}
		// Its last event ends it: the sealed key is gone.
		ev := &Event{ID: fmt.Sprintf("%d-1", id), LegacyID: id, URL: w.URL, Body: []byte(`{"status":"STATUS_CANCEL"}`), Signature: "sha256=00"}
		if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "CANCELLED", Event: ev, End: true}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 0 {
			t.Fatalf("DueWatches after the end = %v, want none", watchIDs(ws))
		}
		if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "X"}); !errors.Is(err, ErrWatchMoved) {
			t.Fatalf("RecordWatch of an ended watch = %v, want ErrWatchMoved", err)
		}
		es := dueEvents(t, s, time.Minute, 10)
		if len(es) != 1 || es[0].ID != ev.ID || string(es[0].Body) != string(ev.Body) || es[0].Signature != ev.Signature ||
			es[0].URL != ev.URL || es[0].LegacyID != id || es[0].Attempts != 1 {
			t.Fatalf("DueEvents = %+v, want %+v", es, ev)
		}
	})

	t.Run("RecordWatchAtomic", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		id := reserve(t, s, Reservation{Owner: owner, IdemKey: "k", Watch: watched("https://a.example/")})
		commit(t, s, id, "n")
		w := dueWatches(t, s, time.Minute, 1)[0]
		// An outbox row the store refuses (no body) takes the state
		// update down with it.
		bad := &Event{ID: fmt.Sprintf("%d-1", id), LegacyID: id, URL: w.URL, Signature: "sha256=00"}
		if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "RECEIVED 1", Event: bad, NextPoll: clk.Now()}); err == nil {
			t.Fatal("RecordWatch with a refused event = nil, want an error")
		}
		clk.Advance(time.Minute)
		w = dueWatches(t, s, time.Minute, 1)[0]
		if w.State != "WAITING" || w.Seq != 0 {
			t.Fatalf("after a failed RecordWatch the watch is %q seq %d, want WAITING seq 0", w.State, w.Seq)
		}
		if es := dueEvents(t, s, time.Minute, 10); len(es) != 0 {
			t.Fatalf("after a failed RecordWatch the outbox holds %v", eventIDs(es))
		}
		// Now the event and the state go in together.
		ev := &Event{ID: fmt.Sprintf("%d-1", id), LegacyID: id, URL: w.URL, Body: []byte("{}"), Signature: "sha256=00"}
		if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "RECEIVED 1", Event: ev, NextPoll: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		// A poll replayed from the old claim (another replica whose lease
		// ran out) changes nothing.
		dup := &Event{ID: ev.ID, LegacyID: id, URL: w.URL, Body: []byte(`{"replayed":true}`), Signature: "sha256=11"}
		if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "RECEIVED 2", Event: dup, NextPoll: clk.Now()}); !errors.Is(err, ErrWatchMoved) {
			t.Fatalf("replayed RecordWatch = %v, want ErrWatchMoved", err)
		}
		w = dueWatches(t, s, time.Minute, 1)[0]
		if w.State != "RECEIVED 1" || w.Seq != 1 {
			t.Fatalf("watch = %q seq %d, want RECEIVED 1 seq 1", w.State, w.Seq)
		}
		es := dueEvents(t, s, time.Minute, 10)
		if len(es) != 1 || string(es[0].Body) != "{}" {
			t.Fatalf("outbox = %+v, want the one first event", es)
		}
	})

	t.Run("LeasesAcrossStores", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		b := fresh(t)
		s1, s2 := b(t, Options{Now: clk.Now}), b(t, Options{Now: clk.Now})
		const n = 30
		for i := range n {
			id := reserve(t, s1, Reservation{Owner: owner, IdemKey: fmt.Sprint(i), Watch: watched("https://a.example/")})
			commit(t, s1, id, fmt.Sprint("n", i))
			ev := &Event{ID: fmt.Sprintf("%d-1", id), LegacyID: id, URL: "https://a.example/", Body: []byte("{}"), Signature: "s"}
			if err := s1.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "R", Event: ev, NextPoll: clk.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		// Both stores claim watches and events at once, in small batches:
		// each is claimed by exactly one of them.
		var mu sync.Mutex
		watchesBy, eventsBy := map[int64]int{}, map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i, s := range []Store{s1, s2} {
			wg.Go(func() {
				for {
					ws, err := s.DueWatches(t.Context(), time.Minute, 3)
					if err != nil {
						errs <- err
						return
					}
					if len(ws) == 0 {
						return
					}
					mu.Lock()
					for _, w := range ws {
						watchesBy[w.LegacyID]++
					}
					mu.Unlock()
				}
			})
			wg.Go(func() {
				for {
					es, err := s.DueEvents(t.Context(), time.Minute, 3)
					if err != nil {
						errs <- fmt.Errorf("store %d: %w", i, err)
						return
					}
					if len(es) == 0 {
						return
					}
					mu.Lock()
					for _, e := range es {
						eventsBy[e.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(watchesBy) != n || len(eventsBy) != n {
			t.Fatalf("claimed %d watches and %d events, want %d each", len(watchesBy), len(eventsBy), n)
		}
		for id, c := range watchesBy {
			if c != 1 {
				t.Errorf("watch %d claimed %d times", id, c)
			}
		}
		for id, c := range eventsBy {
			if c != 1 {
				t.Errorf("event %s claimed %d times", id, c)
			}
		}
	})

	t.Run("SettleEvent", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		var evs []string
		for i := range 3 {
			id := reserve(t, s, Reservation{Owner: owner, IdemKey: fmt.Sprint(i), Watch: watched("https://a.example/")})
			commit(t, s, id, fmt.Sprint("n", i))
			dueWatches(t, s, time.Minute, 1)
			ev := &Event{ID: fmt.Sprintf("%d-1", id), LegacyID: id, URL: "https://a.example/", Body: []byte("{}"), Signature: "s"}
			if err := s.RecordWatch(t.Context(), WatchUpdate{LegacyID: id, Seq: 0, State: "R", Event: ev, NextPoll: clk.Now()}); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev.ID)
			clk.Advance(time.Millisecond)
		}
		due := func() int64 {
			t.Helper()
			o, ok := s.(interface {
				OutboxDue(ctx context.Context) (int64, error)
			})
			if !ok {
				return -1 // a Cached store: the gauge reads the store itself
			}
			n, err := o.OutboxDue(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := due(); n != 3 && n != -1 {
			t.Fatalf("OutboxDue = %d, want 3", n)
		}
		es := dueEvents(t, s, time.Minute, 10)
		if got := eventIDs(es); !slices.Equal(got, evs) {
			t.Fatalf("DueEvents = %v, want %v oldest first", got, evs)
		}
		settle := func(id string, o Outcome, next time.Time) {
			t.Helper()
			if err := s.SettleEvent(t.Context(), id, o, next); err != nil {
				t.Fatal(err)
			}
		}
		settle(evs[0], Delivered, time.Time{})
		settle(evs[1], Retry, clk.Now().Add(10*time.Second))
		settle(evs[2], Dead, time.Time{})
		settle(evs[0], Retry, clk.Now()) // a late settle of a delivered event changes nothing
		settle("missing", Delivered, time.Time{})
		if n := due(); n != 1 && n != -1 {
			t.Fatalf("OutboxDue after settling = %d, want the 1 retried", n)
		}
		if err := s.SettleEvent(t.Context(), evs[1], Outcome(0), time.Time{}); err == nil {
			t.Fatal("SettleEvent with no outcome = nil")
		}
		clk.Advance(9 * time.Second)
		if es := dueEvents(t, s, time.Minute, 10); len(es) != 0 {
			t.Fatalf("DueEvents before the retry = %v, want none", eventIDs(es))
		}
		clk.Advance(time.Second)
		es = dueEvents(t, s, time.Minute, 10)
		if len(es) != 1 || es[0].ID != evs[1] || es[0].Attempts != 2 {
			t.Fatalf("DueEvents at the retry = %+v, want %s attempt 2", es, evs[1])
		}
		// Retention deletes settled events, never due ones, and old watches.
		keep := reserve(t, s, Reservation{Owner: owner, IdemKey: "w", Watch: watched("https://a.example/")})
		n, err := s.DeleteEventsBefore(t.Context(), clk.Now().Add(time.Hour), 100)
		if err != nil || n != 6 {
			t.Fatalf("DeleteEventsBefore = %d, %v; want 2 settled events and 4 watches", n, err)
		}
		settle(evs[1], Delivered, time.Time{})
		if n, err := s.DeleteEventsBefore(t.Context(), clk.Now().Add(-time.Hour), 100); err != nil || n != 0 {
			t.Fatalf("DeleteEventsBefore of nothing old = %d, %v", n, err)
		}
		commit(t, s, keep, "kept")
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 0 {
			t.Fatalf("a deleted watch is claimed: %v", watchIDs(ws))
		}
	})

	t.Run("ReserveRequestWatch", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		s := fresh(t)(t, Options{Now: clk.Now})
		k := RequestKey{ID: "rid", Params: "p", Since: clk.Now().Add(-time.Hour), Lease: time.Minute}
		c := reserveRequest(t, s, Reservation{Owner: owner, IdemKey: "i", Watch: watched("https://r.example/")}, k)
		wantKind(t, c, ClaimNew, 0)
		if ws := dueWatches(t, s, time.Minute, 10); len(ws) != 0 {
			t.Fatalf("a pending requestId purchase is watched: %v", watchIDs(ws))
		}
		commit(t, s, c.LegacyID, "n")
		ws := dueWatches(t, s, time.Minute, 10)
		if len(ws) != 1 || ws[0].LegacyID != c.LegacyID || ws[0].URL != "https://r.example/" {
			t.Fatalf("DueWatches = %+v, want the requestId purchase's watch", ws)
		}
	})

	t.Run("WatchNeedsURLAndKey", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)(t, Options{})
		for _, w := range []*Watch{{Key: []byte("k")}, {URL: "https://a.example/"}} {
			if _, err := s.Reserve(t.Context(), Reservation{Owner: owner, IdemKey: "k", Watch: w}); err == nil {
				t.Errorf("Reserve with watch %+v = nil, want an error", w)
			}
		}
	})
}
