package shim

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
)

func TestCachedGet(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Unix(1e9, 0))
	var hits, misses atomic.Int64
	c := &catalog{ttl: time.Minute, staleFor: 10 * time.Minute, now: clock.Now, onLookup: func(_ string, hit bool) {
		if hit {
			hits.Add(1)
		} else {
			misses.Add(1)
		}
	}}
	var v ttlValue[int]
	var fetches atomic.Int64
	release := make(chan struct{})
	slow := func(ctx context.Context) (int, error) {
		n := fetches.Add(1)
		<-release
		return int(n), nil
	}

	// No copy yet: concurrent callers wait for one fetch and share it.
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Go(func() {
			val, err := cachedGet(t.Context(), c, "x", &v, slow)
			if err != nil {
				t.Error(err)
			}
			got[i] = val
		})
	}
	for v.inflightNow() == nil {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if fetches.Load() != 1 {
		t.Errorf("%d fetches for 8 callers without a copy, want 1", fetches.Load())
	}
	for i, g := range got {
		if g != 1 {
			t.Errorf("caller %d got %d, want 1", i, g)
		}
	}

	// Fresh: no fetch.
	if val, err := cachedGet(t.Context(), c, "x", &v, slow); val != 1 || err != nil || fetches.Load() != 1 {
		t.Errorf("fresh copy: %d, %v, %d fetches", val, err, fetches.Load())
	}

	// Stale while a refresh hangs: others get the old copy at once.
	clock.Advance(2 * time.Minute)
	hang := make(chan struct{})
	started := make(chan struct{})
	refreshDone := make(chan int)
	go func() {
		val, _ := cachedGet(t.Context(), c, "x", &v, func(ctx context.Context) (int, error) {
			close(started)
			<-hang
			return 2, nil
		})
		refreshDone <- val
	}()
	<-started
	if val, err := cachedGet(t.Context(), c, "x", &v, slow); val != 1 || err != nil {
		t.Errorf("during a refresh: %d, %v; want the old copy 1", val, err)
	}
	close(hang)
	if val := <-refreshDone; val != 2 {
		t.Errorf("the refresh returned %d, want 2", val)
	}
	if val, _ := cachedGet(t.Context(), c, "x", &v, slow); val != 2 {
		t.Errorf("after the refresh: %d, want 2", val)
	}

	// The backend fails: a usable copy is still served, an unusable one is not.
	boom := errors.New("backend down")
	failing := func(context.Context) (int, error) { return 0, boom }
	clock.Advance(2 * time.Minute)
	if val, err := cachedGet(t.Context(), c, "x", &v, failing); val != 2 || err != nil {
		t.Errorf("failing backend, usable copy: %d, %v", val, err)
	}
	clock.Advance(time.Hour)
	if _, err := cachedGet(t.Context(), c, "x", &v, failing); !errors.Is(err, boom) {
		t.Errorf("failing backend, copy too old: %v, want the fetch error", err)
	}
	if hits.Load() == 0 || misses.Load() == 0 {
		t.Errorf("lookups not counted: %d hits, %d misses", hits.Load(), misses.Load())
	}
}

// inflightNow reports the running refresh, for tests.
func (v *ttlValue[T]) inflightNow() *flight[T] {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.inflight
}
