package idmap

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBaseDSN is the test server, or skips the test.
func pgBaseDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("SHIM_TEST_POSTGRES_DSN")
	if dsn == "" {
		tb.Skip("SHIM_TEST_POSTGRES_DSN not set: skipping PostgreSQL tests")
	}
	return dsn
}

// pgSchemaDSN creates a schema of its own for tb, dropped when tb ends, and
// returns a DSN whose search_path is that schema.
func pgSchemaDSN(tb testing.TB) string {
	tb.Helper()
	base := pgBaseDSN(tb)
	schema := "idmap_test_" + strings.ToLower(rand.Text())
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(tb.Context(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("creating schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec(context.WithoutCancel(tb.Context()), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("SHIM_TEST_POSTGRES_DSN must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func pgBackend(tb testing.TB) backend {
	tb.Helper()
	dsn := pgSchemaDSN(tb)
	return func(tb testing.TB, opt Options) Store {
		tb.Helper()
		s, err := Open(tb.Context(), dsn, opt)
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pgBaseDSN(t)
	testStore(t, pgBackend)
}

// TestPostgresUpgrade migrates a schema created at 0001 to the latest one.
func TestPostgresUpgrade(t *testing.T) {
	t.Parallel()
	dsn := pgSchemaDSN(t)
	testUpgrade(t, "migrations/postgres", func(tb testing.TB, ms []migration) Store {
		tb.Helper()
		s, err := openPostgresWith(tb.Context(), dsn, Options{}, ms)
		if err != nil {
			tb.Fatalf("opening with %d migrations: %v", len(ms), err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}, pgUsesIndex)
}

// pgUsesIndex reports whether PostgreSQL can plan the LegacyIDs query with
// the index of migration 0002. Sequential scans are turned off for the
// question, since the test tables are too small for an index to pay.
func pgUsesIndex(tb testing.TB, s Store) bool {
	tb.Helper()
	tx, err := s.(*Postgres).pool.Begin(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(tb.Context()))
	if _, err := tx.Exec(tb.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
		tb.Fatal(err)
	}
	rows, err := tx.Query(tb.Context(), "EXPLAIN "+pgLegacyIDsQuery, owner, []string{"native-1", "native-2"})
	if err != nil {
		tb.Fatalf("EXPLAIN: %v", err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("EXPLAIN: %v", err)
	}
	tb.Logf("plan:\n%s", strings.Join(plan, "\n"))
	return strings.Contains(strings.Join(plan, "\n"), " id_map_owner_native ")
}

// TestPostgresConcurrentOpen starts two stores on one new schema at once,
// as replicas do: both must migrate (the advisory lock) and their IDs must
// never collide.
func TestPostgresConcurrentOpen(t *testing.T) {
	t.Parallel()
	pgBaseDSN(t)
	ms, err := loadMigrations(migrationFS, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		dsn := pgSchemaDSN(t)
		var stores [2]Store
		var errs [2]error
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dsn, Options{OpTimeout: time.Minute}) })
		}
		wg.Wait()
		for i, s := range stores {
			if errs[i] != nil {
				t.Fatalf("round %d: Open %d: %v", round, i, errs[i])
			}
			t.Cleanup(func() { s.Close() })
		}
		const perStore = 50
		got := make([][]int64, len(stores))
		for i, s := range stores {
			wg.Go(func() {
				for range perStore {
					id, err := s.Reserve(t.Context(), Reservation{Owner: owner})
					if err != nil {
						errs[i] = err
						return
					}
					got[i] = append(got[i], id)
				}
			})
		}
		wg.Wait()
		seen := make(map[int64]bool)
		for i := range stores {
			if errs[i] != nil {
				t.Fatalf("round %d: store %d: %v", round, i, errs[i])
			}
			for _, id := range got[i] {
				if seen[id] || id < 100000001 {
					t.Fatalf("round %d: legacy id %d handed out twice or too small", round, id)
				}
				seen[id] = true
			}
		}
		var versions int
		err := stores[0].(*Postgres).pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&versions)
		if err != nil || versions != len(ms) {
			t.Fatalf("round %d: schema_migrations rows = %d, %v; want %d", round, versions, err, len(ms))
		}
	}
}

// TestPostgresOpenUnreachable opens stores on servers that are not there:
// Open must fail as unavailable, within its deadline.
func TestPostgresOpenUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		addr func(tb testing.TB) string
	}{
		{"black hole", blackHole},
		{"closed port", closedPort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := "postgres://postgres@" + tc.addr(t) + "/test?sslmode=disable"
			start := time.Now()
			s, err := Open(t.Context(), dsn, Options{OpTimeout: 300 * time.Millisecond})
			t.Logf("Open failed after %v: %v", time.Since(start), err)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Open = %v, want ErrUnavailable", err)
			}
		})
	}
}

// blackHole listens on loopback, accepts connections and never answers.
func blackHole(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort is a loopback address nobody listens on.
func closedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPostgresOutage runs a store through a proxy that can partition it
// from the server: calls during the partition fail within OpTimeout as
// unavailable, and the same store works again once the network heals. It is
// not parallel: after the outage its calls must finish within a short
// OpTimeout, which a server busy with other tests could exceed.
func TestPostgresOutage(t *testing.T) {
	dsn := pgSchemaDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.addr()
	// One connection, so that the partition surely breaks the one in use.
	s, err := OpenPostgres(t.Context(), u.String(), Options{OpTimeout: 500 * time.Millisecond, MaxConns: 1})
	if err != nil {
		t.Fatalf("OpenPostgres through the proxy: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	id := reserve(t, s, Reservation{Owner: owner})
	commit(t, s, id, "native")
	pending := reserve(t, s, Reservation{Owner: owner})

	px.cut()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"lookup", func(ctx context.Context) error { _, err := s.Lookup(ctx, owner, id); return err }},
		{"reserve", func(ctx context.Context) error { _, err := s.Reserve(ctx, Reservation{Owner: owner}); return err }},
		{"commit", func(ctx context.Context) error { return s.Commit(ctx, pending, "n") }},
		{"release", func(ctx context.Context) error { return s.Release(ctx, pending) }},
		{"stale", func(ctx context.Context) error { _, err := s.Stale(ctx, time.Now(), time.Minute, 1); return err }},
		{"delete", func(ctx context.Context) error { _, err := s.DeleteBefore(ctx, time.Now(), 1); return err }},
		{"ping", func(ctx context.Context) error { return s.Ping(ctx) }},
		{"legacy ids", func(ctx context.Context) error { _, err := s.LegacyIDs(ctx, owner, []string{"native"}); return err }},
	}
	for _, tc := range calls {
		t.Run("down/"+tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call(t.Context())
			t.Logf("failed after %v: %v", time.Since(start), err)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
		})
	}

	px.restore()
	wantLookup(t, s, owner, id, "native")
	commit(t, s, pending, "native-pending")
	wantLegacyIDs(t, s, owner, []string{"native", "native-pending"}, map[string]int64{"native": id, "native-pending": pending})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the outage: %v", err)
	}
}

// proxy forwards loopback TCP connections to a server. cut partitions it:
// forwarded connections go silent (their server side is closed, the client
// side stays open and unanswered) and new ones are accepted and held.
// restore heals it: the silent connections are reset and new ones are
// forwarded again.
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	down    bool
	clients []net.Conn
	servers []net.Conn
	wg      sync.WaitGroup
}

func startProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	tb.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.clients = append(p.clients, c)
		if !p.down {
			if srv, err := net.Dial("tcp", p.target); err != nil {
				c.Close()
			} else {
				p.servers = append(p.servers, srv)
				p.wg.Go(func() { io.Copy(srv, c) })
				p.wg.Go(func() { io.Copy(c, srv) })
			}
		}
		p.mu.Unlock()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.servers {
		c.Close()
	}
	p.servers = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	for _, c := range p.clients {
		c.Close()
	}
	p.clients = nil
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range append(p.clients, p.servers...) {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestPostgresErrorsHideSecrets opens bad DSNs carrying a password: no
// error may repeat it.
func TestPostgresErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-pw"
	tests := []struct {
		name string
		dsn  string
	}{
		{"bad port", "postgres://u:" + secret + "@127.0.0.1:notaport/db"},
		{"bad sslmode", "postgresql://u:" + secret + "@127.0.0.1/db?sslmode=bogus"},
		{"refused", "postgres://u:" + secret + "@" + closedPort(t) + "/db?sslmode=disable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.dsn, Options{OpTimeout: 300 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q holds the password", err)
			}
		})
	}
}
