package idmap

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestInspect runs Row and Pending against both backends: a pending, an
// active and a void row, then no pending one.
func TestInspect(t *testing.T) {
	t.Parallel()
	for _, bc := range []struct {
		name  string
		fresh func(tb testing.TB) backend
	}{{"sqlite", sqliteBackend}, {"postgres", pgBackend}} {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s := bc.fresh(t)(t, Options{Now: clk.Now})
			in, ok := s.(interface {
				Row(ctx context.Context, legacyID int64) (Row, error)
				Pending(ctx context.Context) (PendingSummary, error)
			})
			if !ok {
				t.Fatalf("%T has no Row and Pending", s)
			}
			if p, err := in.Pending(t.Context()); err != nil || p != (PendingSummary{}) {
				t.Fatalf("Pending on an empty map = %+v, %v", p, err)
			}
			first := clk.Now().UTC()
			pending := reserve(t, s, Reservation{Owner: owner, IdemKey: "idem-1", Intent: []byte("sealed")})
			clk.Advance(time.Minute)
			active := reserve(t, s, Reservation{Owner: other, IdemKey: "idem-2"})
			commit(t, s, active, "native-2")
			void := reserve(t, s, Reservation{Owner: owner, IdemKey: "idem-3"})
			release(t, s, void)

			if p, err := in.Pending(t.Context()); err != nil || p.Count != 1 || !p.Oldest.Equal(first) {
				t.Errorf("Pending = %+v, %v; want 1 at %v", p, err, first)
			}
			r, err := in.Row(t.Context(), active)
			if err != nil || r.LegacyID != active || r.Owner != other || r.State != "active" || r.NativeID != "native-2" ||
				r.IdemKey != "idem-2" || !r.CreatedAt.Equal(first.Add(time.Minute)) {
				t.Errorf("Row(active) = %+v, %v", r, err)
			}
			if r, err := in.Row(t.Context(), pending); err != nil || r.State != "pending" || r.NativeID != "" || r.Owner != owner {
				t.Errorf("Row(pending) = %+v, %v", r, err)
			}
			if r, err := in.Row(t.Context(), void); err != nil || r.State != "void" {
				t.Errorf("Row(void) = %+v, %v", r, err)
			}
			if _, err := in.Row(t.Context(), 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("Row(1) = %v, want ErrNotFound", err)
			}
			commit(t, s, pending, "native-1")
			if p, err := in.Pending(t.Context()); err != nil || p != (PendingSummary{}) {
				t.Errorf("Pending once all are settled = %+v, %v", p, err)
			}
		})
	}
}
