package idmap

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sqliteBackend opens stores on one fresh file under tb.TempDir(), in a
// directory Open has to create.
func sqliteBackend(tb testing.TB) backend {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "data", "idmap.db")
	return func(tb testing.TB, opt Options) Store {
		tb.Helper()
		s, err := Open(tb.Context(), "sqlite:"+path, opt)
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
}

func openSQLite(tb testing.TB, path string, opt Options) *SQLite {
	tb.Helper()
	s, err := OpenSQLite(tb.Context(), path, opt)
	if err != nil {
		tb.Fatalf("OpenSQLite: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	testStore(t, sqliteBackend)
}

// TestSQLiteUpgrade migrates a file created at 0001 to the latest schema.
func TestSQLiteUpgrade(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "u.db")
	testUpgrade(t, "migrations/sqlite", func(tb testing.TB, ms []migration) Store {
		tb.Helper()
		s, err := openSQLiteWith(tb.Context(), path, Options{}, ms)
		if err != nil {
			tb.Fatalf("opening with %d migrations: %v", len(ms), err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}, sqliteUsesIndex)
}

// sqliteUsesIndex reports whether SQLite plans the LegacyIDs query with the
// index of migration 0002.
func sqliteUsesIndex(tb testing.TB, s Store) bool {
	tb.Helper()
	rows, err := s.(*SQLite).r.QueryContext(tb.Context(), "EXPLAIN QUERY PLAN "+sqliteLegacyIDsQuery(3),
		owner, "native-1", "native-2", "native-3")
	if err != nil {
		tb.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	uses := false
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			tb.Fatalf("EXPLAIN QUERY PLAN: %v", err)
		}
		tb.Logf("plan: %s", detail)
		uses = uses || strings.Contains(detail, "INDEX id_map_owner_native ")
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	return uses
}

func TestSQLiteDSNs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		dsn  string
		path string
	}{
		{"plain path", filepath.Join(dir, "a", "b", "plain.db"), filepath.Join(dir, "a", "b", "plain.db")},
		{"sqlite scheme", "sqlite:" + filepath.Join(dir, "s.db"), filepath.Join(dir, "s.db")},
		{"file scheme", "file:" + filepath.Join(dir, "f.db"), filepath.Join(dir, "f.db")},
		{"odd characters", filepath.Join(dir, "100% #1 ?ok", "x.db"), filepath.Join(dir, "100% #1 ?ok", "x.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "odd characters" {
				// A '?' in a DSN is refused; OpenSQLite takes any path.
				if err := os.MkdirAll(filepath.Dir(tc.path), 0o700); err != nil {
					t.Fatal(err)
				}
				s := openSQLite(t, tc.path, Options{})
				reserve(t, s, Reservation{Owner: owner})
			} else {
				s, err := Open(t.Context(), tc.dsn, Options{})
				if err != nil {
					t.Fatalf("Open(%q): %v", tc.dsn, err)
				}
				reserve(t, s, Reservation{Owner: owner})
				s.Close()
			}
			if _, err := os.Stat(tc.path); err != nil {
				t.Fatalf("database file: %v", err)
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	s := openSQLite(t, filepath.Join(t.TempDir(), "p.db"), Options{})
	tests := []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "busy_timeout", "2000"},
		{s.r, "query_only", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
}

// TestSQLiteClearsIntent checks that Commit and Release drop the sealed
// intent, which the API cannot show.
func TestSQLiteClearsIntent(t *testing.T) {
	t.Parallel()
	s := openSQLite(t, filepath.Join(t.TempDir(), "i.db"), Options{})
	committed := reserve(t, s, Reservation{Owner: owner, Intent: []byte("secret")})
	commit(t, s, committed, "n")
	released := reserve(t, s, Reservation{Owner: owner, Intent: []byte("secret")})
	release(t, s, released)
	kept := reserve(t, s, Reservation{Owner: owner, Intent: []byte("secret")})
	tests := []struct {
		name      string
		id        int64
		wantState string
		wantNull  bool
	}{
		{"committed", committed, "active", true},
		{"released", released, "void", true},
		{"pending", kept, "pending", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var state string
			var intent []byte
			err := s.w.QueryRowContext(t.Context(), "SELECT state, intent FROM id_map WHERE legacy_id = ?", tc.id).Scan(&state, &intent)
			if err != nil {
				t.Fatal(err)
			}
			if state != tc.wantState || (intent == nil) != tc.wantNull {
				t.Fatalf("state %q, intent %q; want %q, intent null %v", state, intent, tc.wantState, tc.wantNull)
			}
		})
	}
}

// TestSQLiteConcurrentOpen opens one file twice at once, as two processes
// would, and writes through both.
func TestSQLiteConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	var stores [2]*SQLite
	var errs [2]error
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenSQLite(t.Context(), path, Options{OpTimeout: time.Minute}) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("OpenSQLite %d: %v", i, errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	const perStore = 50
	got := make([][]int64, len(stores))
	for i, s := range stores {
		wg.Go(func() {
			for j := range perStore {
				id, err := s.Reserve(t.Context(), Reservation{Owner: owner, IdemKey: fmt.Sprint(i, j)})
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
			t.Fatalf("store %d: %v", i, errs[i])
		}
		for _, id := range got[i] {
			if seen[id] {
				t.Fatalf("legacy id %d handed out twice", id)
			}
			seen[id] = true
		}
	}
	ms, err := loadMigrations(migrationFS, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := stores[0].w.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", versions, len(ms))
	}
}

// TestSQLiteLocked holds the write lock from another connection, as another
// process would, and checks that writes fail as unavailable within
// OpTimeout, reads go on, and writes recover when the lock is gone. It is
// not parallel: its writes after the lock must finish within a short
// OpTimeout, which other tests' fsyncs could exceed.
func TestSQLiteLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	s := openSQLite(t, path, Options{OpTimeout: 300 * time.Millisecond})
	id := reserve(t, s, Reservation{Owner: owner})
	commit(t, s, id, "native")

	locker, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close() })
	conn, err := locker.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err = s.Reserve(t.Context(), Reservation{Owner: owner})
	t.Logf("Reserve under a foreign lock failed after %v: %v", time.Since(start), err)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Reserve under a foreign lock = %v, want ErrUnavailable", err)
	}
	wantLookup(t, s, owner, id, "native") // WAL readers are not blocked

	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	reserve(t, s, Reservation{Owner: owner})
}

// TestSQLiteSurvivesKill reserves and commits in a child process that then
// kills itself with SIGKILL, without Close, and checks that every row it
// reported is there.
func TestSQLiteSurvivesKill(t *testing.T) {
	if path := os.Getenv("IDMAP_TEST_KILL_CHILD"); path != "" {
		killChild(t, path)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSQLiteSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IDMAP_TEST_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []int64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
			got = append(got, id)
		}
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	if len(got) != 20 {
		t.Fatalf("child reported %d committed ids, want 20", len(got))
	}
	s := openSQLite(t, path, Options{})
	for _, id := range got {
		wantLookup(t, s, owner, id, fmt.Sprint("native-", id))
	}
}

func killChild(t *testing.T, path string) {
	s, err := OpenSQLite(context.WithoutCancel(t.Context()), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		id := reserve(t, s, Reservation{Owner: owner})
		commit(t, s, id, fmt.Sprint("native-", id))
		fmt.Println(id) // reported only once committed
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; never reached
}

func BenchmarkLookupSQLite(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "b.db"), Options{})
	ids := seed(b, s, 1000)
	for i := 0; b.Loop(); i++ {
		if _, err := s.Lookup(b.Context(), owner, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveCommitSQLite(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "b.db"), Options{})
	for b.Loop() {
		id, err := s.Reserve(b.Context(), Reservation{Owner: owner, IdemKey: "k", Intent: []byte("sealed intent")})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(b.Context(), id, "native"); err != nil {
			b.Fatal(err)
		}
	}
}

// seed commits n rows of owner and returns their IDs.
func seed(tb testing.TB, s Store, n int) []int64 {
	tb.Helper()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = reserve(tb, s, Reservation{Owner: owner})
		commit(tb, s, ids[i], fmt.Sprint("native-", ids[i]))
	}
	return ids
}
