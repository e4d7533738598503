// Package fakeclock is the fake clock of the project's tests: a Now that
// stands still until the test moves it, or one that runs with real time
// plus an offset the test moves forward (so that leases, cooldowns and age
// limits pass without waiting while timeouts stay real).
//
// It is for tests only; nothing the shim ships imports it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock a test moves. It is safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	t    time.Time // the time, when the clock stands still
	real bool      // the clock runs with time.Now
	off  time.Duration
}

// At returns a clock that stands at t until Advance moves it.
func At(t time.Time) *Clock { return &Clock{t: t} }

// Offset returns a clock that runs with real time, ahead by what Advance
// added.
func Offset() *Clock { return &Clock{real: true} }

// Now is the clock's time, for an Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		return time.Now().Add(c.off)
	}
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
	c.t = c.t.Add(d)
}
