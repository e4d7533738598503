package idmap

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// deleteCall is one DeleteBefore seen by recorder.
type deleteCall struct {
	before time.Time
	limit  int
	n      int64
	err    error
}

// recorder passes every call to a real store and reports DeleteBefore calls
// until the caller's context is done.
type recorder struct {
	Store
	calls chan deleteCall
}

func (r *recorder) DeleteBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	n, err := r.Store.DeleteBefore(ctx, before, limit)
	select {
	case r.calls <- deleteCall{before: before, limit: limit, n: n, err: err}:
	case <-ctx.Done():
	}
	return n, err
}

// next waits for the next DeleteBefore call.
func (r *recorder) next(tb testing.TB) deleteCall {
	tb.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(10 * time.Second):
		tb.Fatal("no DeleteBefore call within 10s")
		return deleteCall{}
	}
}

func TestRunRetention(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := openSQLite(t, filepath.Join(t.TempDir(), "r.db"), Options{Now: clk.Now})
	var old []int64
	for range 4 {
		id := reserve(t, s, Reservation{Owner: owner})
		commit(t, s, id, "native")
		old = append(old, id)
	}
	void := reserve(t, s, Reservation{Owner: owner})
	release(t, s, void)
	pending := reserve(t, s, Reservation{Owner: owner})
	clk.Advance(2 * time.Hour)
	young := reserve(t, s, Reservation{Owner: owner})
	commit(t, s, young, "native-young")

	var logs bytes.Buffer
	rec := &recorder{Store: s, calls: make(chan deleteCall)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunRetention(ctx, rec, RetentionOptions{MaxAge: time.Hour, Every: time.Hour, Batch: 2, Now: clk.Now,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	var got []int64
	for {
		c := rec.next(t)
		if c.err != nil {
			t.Fatalf("DeleteBefore: %v", c.err)
		}
		if want := clk.Now().Add(-time.Hour); !c.before.Equal(want) || c.limit != 2 {
			t.Fatalf("DeleteBefore(%v, %d), want (%v, 2)", c.before, c.limit, want)
		}
		got = append(got, c.n)
		if c.n < 2 {
			break
		}
	}
	cancel()
	<-done

	if want := []int64{2, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("batches deleted %v, want %v", got, want)
	}
	for _, id := range old {
		wantLookup(t, s, owner, id, "")
	}
	wantLookup(t, s, owner, young, "native-young")
	if ps := stale(t, s, clk.Now(), time.Minute, 10); !slices.Equal(ids(ps), []int64{pending}) {
		t.Fatalf("pending rows after retention = %v, want [%d]", ids(ps), pending)
	}
	if !strings.Contains(logs.String(), "deleted=5") {
		t.Fatalf("log = %q, want deleted=5", logs.String())
	}
}

// TestRunRetentionRepeats checks that passes come every Every, and that a
// failing store is logged and retried rather than ending the loop.
func TestRunRetentionRepeats(t *testing.T) {
	t.Parallel()
	s := openSQLite(t, filepath.Join(t.TempDir(), "r.db"), Options{})
	s.Close() // every DeleteBefore fails
	var logs bytes.Buffer
	rec := &recorder{Store: s, calls: make(chan deleteCall)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunRetention(ctx, rec, RetentionOptions{Every: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	for range 3 {
		if c := rec.next(t); c.err == nil {
			t.Fatal("DeleteBefore on a closed store succeeded")
		}
	}
	cancel()
	<-done
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("log = %q, want an error line", logs.String())
	}
}

func TestRetentionDefaults(t *testing.T) {
	t.Parallel()
	got := RetentionOptions{}.withDefaults()
	if got.MaxAge != 30*24*time.Hour || got.Every != time.Hour || got.Batch != 500 || got.Pause != 0 ||
		got.Now == nil || got.Logger == nil {
		t.Fatalf("defaults = %+v", got)
	}
}
