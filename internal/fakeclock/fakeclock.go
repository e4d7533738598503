// Package fakeclock is the fake clock of the project's tests: a Now that
// stands still until the test moves it, or one that runs with real time
// plus an offset the test moves forward (so that leases, cooldowns and age
// limits pass without waiting while timeouts stay real), and timers (After)
// that fire when the clock passes their time.
//
// It is for tests only; nothing the shim ships imports it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock a test moves. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	t      time.Time // the time, when the clock stands still
	real   bool      // the clock runs with time.Now
	off    time.Duration
	timers []*timer // pending, in no order
}

// timer is one After: it fires, once, when the clock reaches at.
type timer struct {
	at time.Time
	c  chan time.Time
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
	return c.now()
}

func (c *Clock) now() time.Time {
	if c.real {
		return time.Now().Add(c.off)
	}
	return c.t
}

// Advance moves the clock forward by d and fires the timers whose time
// has come.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
	c.t = c.t.Add(d)
	c.fire()
}

// After is time.After on this clock: the channel receives the clock's
// time once the clock has moved d past now (at once for d <= 0). A clock
// that stands still fires it only in Advance; an Offset clock also when
// real time has passed d.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now().Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.fire()
	if c.real && d > 0 {
		time.AfterFunc(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.fire()
		})
	}
	return t.c
}

// Timers is the number of timers made by After that have not fired: a test
// waits for it to know that the code under test is asleep.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// fire sends on every timer that is due and forgets it. c.mu is held.
func (c *Clock) fire() {
	now := c.now()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(now) {
			kept = append(kept, t)
			continue
		}
		t.c <- now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}
