package upstream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// TestWithOwnBreaker checks that a client made by WithOwnBreaker neither
// opens its parent's breaker nor is refused by it, and the other way round.
func TestWithOwnBreaker(t *testing.T) {
	t.Parallel()
	s := newSwitchable(t)
	clock := newClock()
	live := newClient(t, s.fake, upstream.Options{Retries: -1, BreakerThreshold: 3, BreakerCooldown: 5 * time.Second, Now: clock.Now})
	bg := live.WithOwnBreaker()
	s.status.Store(503)
	for range 3 {
		if _, err := bg.Balance(t.Context(), testKey); !errors.Is(err, &upstream.APIError{Status: 503}) {
			t.Fatalf("err = %v, want the 503", err)
		}
	}
	_, err := bg.Balance(t.Context(), testKey)
	wantOpen(t, err)
	if st := live.BreakerState(); st != upstream.BreakerClosed {
		t.Errorf("the parent's breaker is %s after the copy's failures, want closed", st)
	}
	s.status.Store(0)
	if _, err := live.Balance(t.Context(), testKey); err != nil {
		t.Errorf("the parent's call: %v", err)
	}
	s.status.Store(503)
	for range 3 {
		_, _ = live.Balance(t.Context(), testKey)
	}
	if st := live.BreakerState(); st != upstream.BreakerOpen {
		t.Errorf("the parent's breaker is %s, want open", st)
	}
	clock.Advance(5 * time.Second)
	s.status.Store(0)
	if _, err := bg.Balance(t.Context(), testKey); err != nil {
		t.Errorf("the copy's probe: %v", err)
	}
	if st := bg.BreakerState(); st != upstream.BreakerClosed {
		t.Errorf("the copy's breaker is %s after its probe, want closed", st)
	}
}
