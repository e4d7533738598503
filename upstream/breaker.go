package upstream

import (
	"errors"
	"strconv"
	"sync"
	"time"
)

// ErrCircuitOpen is the cause of a call refused without a request because
// the backend failed Options.BreakerThreshold times in a row and its
// cooldown has not passed, or because one probe call is already testing
// whether it is back. It comes wrapped in a *TransportError with NotSent
// set: errors.Is(err, ErrCircuitOpen) tells it apart.
var ErrCircuitOpen = errors.New("circuit breaker open: the backend is failing, request not sent")

// BreakerState is the state of a Client's circuit breaker, the one source
// of "is the backend up?".
type BreakerState uint8

const (
	// BreakerClosed: calls flow and failed attempts in a row are counted.
	// A Client whose breaker is off is always BreakerClosed.
	BreakerClosed BreakerState = iota
	// BreakerOpen: the backend failed Options.BreakerThreshold attempts in a
	// row and the cooldown has not passed; every call fails at once with
	// ErrCircuitOpen.
	BreakerOpen
	// BreakerHalfOpen: the cooldown has passed; the next call is let
	// through as the one probe whose outcome closes or reopens the breaker
	// (calls made while it is in flight are refused).
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "BreakerState(" + strconv.Itoa(int(s)) + ")"
}

// BreakerState returns the state of c's circuit breaker now: BreakerOpen
// while calls are refused for the cooldown, BreakerHalfOpen once the
// cooldown has passed (even before a probe was made), BreakerClosed
// otherwise and always when the breaker is off. It makes no request, takes
// one uncontended lock and reads the clock; it is safe for concurrent use.
// Readiness checks should call it rather than track the outcome of calls.
func (c *Client) BreakerState() BreakerState { return c.breaker.current() }

// outcome is what one attempt says about the backend.
type outcome uint8

const (
	// neutral says nothing: the caller went away, or no request was made.
	neutral outcome = iota
	// up is any answer of the backend other than a 5xx: 2xx, 3xx, 4xx and
	// 429 included.
	up
	// down is a transport failure (dial error, reset, timeout, unreadable
	// body) or a 5xx.
	down
)

// breaker is a consecutive-failure circuit breaker shared by every call of
// one Client, whatever the API key. After threshold down outcomes in a row
// it opens: calls fail at once with ErrCircuitOpen for cooldown. Then it is
// half-open: one call at a time is let through as a probe; up closes it,
// down opens it for another cooldown, neutral lets the next caller probe.
//
// Outcomes of attempts admitted before the last change of state are
// dropped (each state change starts a new generation, as in
// sony/gobreaker), so that slow answers from before an opening neither
// close nor reopen it. A nil *breaker admits everything. It is safe for
// concurrent use.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    BreakerState
	failures int       // consecutive down outcomes while closed
	until    time.Time // end of the cooldown while open
	probing  bool      // a probe is in flight while half-open
	gen      uint64    // bumped on every change of state
}

// ticket is one admitted attempt, to be handed back to done.
type ticket struct {
	gen   uint64
	probe bool
}

// newBreaker returns a breaker, or nil (admit everything) when threshold is
// not positive.
func newBreaker(threshold int, cooldown time.Duration, now func() time.Time) *breaker {
	if threshold <= 0 {
		return nil
	}
	return &breaker{threshold: threshold, cooldown: cooldown, now: now}
}

// allow admits one attempt, or reports false when the breaker refuses it.
// An admitted attempt must be handed to done exactly once.
func (b *breaker) allow() (ticket, bool) {
	if b == nil {
		return ticket{}, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if b.now().Before(b.until) {
			return ticket{}, false
		}
		b.set(BreakerHalfOpen)
		fallthrough
	case BreakerHalfOpen:
		if b.probing {
			return ticket{}, false
		}
		b.probing = true
		return ticket{gen: b.gen, probe: true}, true
	}
	return ticket{gen: b.gen}, true
}

// refusing reports whether an attempt made now would be refused, without
// admitting one: a retry checks it before sleeping on its backoff.
func (b *breaker) refusing() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		return b.now().Before(b.until)
	case BreakerHalfOpen:
		return b.probing
	}
	return false
}

// current is the state now, with an open breaker whose cooldown has passed
// reported half-open. A nil *breaker is closed.
func (b *breaker) current() BreakerState {
	if b == nil {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && !b.now().Before(b.until) {
		return BreakerHalfOpen
	}
	return b.state
}

// done records the outcome of an attempt admitted by allow.
func (b *breaker) done(t ticket, o outcome) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		return // admitted before the last change of state
	}
	if t.probe {
		switch o {
		case up:
			b.set(BreakerClosed)
		case down:
			b.set(BreakerOpen)
		default:
			b.probing = false
		}
		return
	}
	switch o {
	case up:
		b.failures = 0
	case down:
		b.failures++
		if b.failures >= b.threshold {
			b.set(BreakerOpen)
		}
	}
}

// set moves to state s and starts a new generation. The caller holds b.mu.
func (b *breaker) set(s BreakerState) {
	b.state = s
	b.gen++
	b.failures = 0
	b.probing = false
	if s == BreakerOpen {
		b.until = b.now().Add(b.cooldown)
	}
}

// outcomeOf classifies the error of one attempt for the breaker. parentErr
// is the caller's context error: when the caller went away, the attempt
// says nothing about the backend. catalog marks an attempt of a catalog
// call: a 2xx body it cannot use (larger than Options.MaxCatalogBodyBytes,
// or not the contract's JSON) is an answer, but one about the catalog
// alone, so it is neutral: it neither opens the breaker that guards
// purchases and polling nor closes it.
func outcomeOf(err, parentErr error, catalog bool) outcome {
	if err == nil {
		return up
	}
	if parentErr != nil {
		return neutral
	}
	var bb *badBodyError
	if catalog && (errors.As(err, &bb) || errors.Is(err, errBodyTooLarge)) {
		return neutral
	}
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status >= 500 {
			return down
		}
		return up
	}
	var te *TransportError
	if errors.As(err, &te) {
		return down
	}
	return neutral // a request that could not be built was never sent
}

// WithOwnBreaker returns a Client that calls the backend as c does (base
// URL, transport, timeouts, retries, idempotency keys) but with a circuit
// breaker of its own, of c's threshold and cooldown, starting closed: its
// failures neither open c's breaker nor are refused by it. Background work
// such as the reconciler uses one, so that its timeouts on a degraded
// backend do not fail live requests. c's breaker stays the one source of
// "is the backend up?". With the breaker off, the copy has none either.
func (c *Client) WithOwnBreaker() *Client {
	d := *c
	if c.breaker != nil {
		d.breaker = newBreaker(c.breaker.threshold, c.breaker.cooldown, c.now)
	}
	return &d
}
