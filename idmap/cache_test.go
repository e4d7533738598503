package idmap

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestCachedConformance(t *testing.T) {
	t.Parallel()
	testStore(t, func(tb testing.TB) backend {
		open := sqliteBackend(tb)
		return func(tb testing.TB, opt Options) Store { return NewCache(open(tb, opt), 64) }
	})
}

// TestCached runs a cache over one SQLite file while a second store on the
// same file plays another replica.
func TestCached(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	c := NewCache(openSQLite(t, path, Options{}), 8)
	replica := openSQLite(t, path, Options{})

	id := reserve(t, c, Reservation{Owner: owner})
	steps := []struct {
		name       string
		do         func(tb testing.TB)
		owner      string
		want       string // "" for ErrNotFound
		hits, miss uint64
	}{
		{name: "pending is a miss", owner: owner, want: "", hits: 0, miss: 1},
		{name: "committed elsewhere is found at once (misses are not cached)",
			do: func(tb testing.TB) { commit(tb, replica, id, "native") }, owner: owner, want: "native", hits: 0, miss: 2},
		{name: "second lookup is a hit", owner: owner, want: "native", hits: 1, miss: 2},
		{name: "another owner is not served from the cache", owner: other, want: "", hits: 1, miss: 3},
		{name: "deleting rows empties the cache",
			do: func(tb testing.TB) {
				if got, err := c.DeleteBefore(tb.Context(), time.Now().Add(time.Hour), 10); err != nil || got != 1 {
					tb.Fatalf("DeleteBefore = %d, %v; want 1", got, err)
				}
			}, owner: owner, want: "", hits: 1, miss: 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.do != nil {
				st.do(t)
			}
			wantLookup(t, c, st.owner, id, st.want)
			if h, m := c.Stats(); h != st.hits || m != st.miss {
				t.Fatalf("hits, misses = %d, %d; want %d, %d", h, m, st.hits, st.miss)
			}
		})
	}
}

func TestCachedEvicts(t *testing.T) {
	t.Parallel()
	c := NewCache(openSQLite(t, filepath.Join(t.TempDir(), "e.db"), Options{}), 2)
	ids := seed(t, c, 3)
	for _, id := range ids {
		wantLookup(t, c, owner, id, fmt.Sprint("native-", id)) // 3 misses; the first is evicted
	}
	wantLookup(t, c, owner, ids[2], fmt.Sprint("native-", ids[2])) // hit
	wantLookup(t, c, owner, ids[0], fmt.Sprint("native-", ids[0])) // evicted: miss
	if h, m := c.Stats(); h != 1 || m != 4 {
		t.Fatalf("hits, misses = %d, %d; want 1, 4", h, m)
	}
}

// TestCachedStatsConcurrent counts every Lookup of many goroutines once.
func TestCachedStatsConcurrent(t *testing.T) {
	t.Parallel()
	c := NewCache(openSQLite(t, filepath.Join(t.TempDir(), "s.db"), Options{}), 8)
	id := seed(t, c, 1)[0]
	const goroutines, each = 8, 25
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, err := c.Lookup(t.Context(), owner, id); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	hits, misses := c.Stats()
	if hits+misses != goroutines*each || misses < 1 || hits < 1 {
		t.Fatalf("hits, misses = %d, %d; want %d lookups, at least one of each", hits, misses, goroutines*each)
	}
}

func BenchmarkLookupCached(b *testing.B) {
	c := NewCache(openSQLite(b, filepath.Join(b.TempDir(), "b.db"), Options{}), 2000)
	ids := seed(b, c, 1000)
	for _, id := range ids {
		if _, err := c.Lookup(b.Context(), owner, id); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		if _, err := c.Lookup(b.Context(), owner, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}
