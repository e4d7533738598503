package fakeclock_test

import (
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
)

func TestAt(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := fakeclock.At(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Advance(time.Hour)
	if got := c.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("after Advance: %v", got)
	}
}

func TestOffset(t *testing.T) {
	t.Parallel()
	c := fakeclock.Offset()
	c.Advance(time.Hour)
	before := time.Now().Add(time.Hour)
	got := c.Now()
	if got.Before(before) || got.After(time.Now().Add(time.Hour+time.Minute)) {
		t.Fatalf("Now = %v, want about an hour ahead of %v", got, before)
	}
	a, b := c.Now(), c.Now()
	if b.Before(a) {
		t.Fatal("an offset clock went backwards")
	}
}
