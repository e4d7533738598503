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

func TestAfter(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := fakeclock.At(start)
	a, b := c.After(time.Second), c.After(3*time.Second)
	if n := c.Timers(); n != 2 {
		t.Fatalf("Timers = %d, want 2", n)
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("a timer fired before its time")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-a; !got.Equal(start.Add(time.Second)) {
		t.Fatalf("a fired at %v", got)
	}
	if n := c.Timers(); n != 1 {
		t.Fatalf("Timers = %d after one fired, want 1", n)
	}
	c.Advance(time.Hour)
	<-b
	if n := c.Timers(); n != 0 {
		t.Fatalf("Timers = %d, want 0", n)
	}
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}
