package idmap

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the embedded store: one database file in WAL mode with
// synchronous=FULL, so that a committed row survives kill -9 and power loss.
// Every write goes through a single connection in BEGIN IMMEDIATE
// transactions, so writers of one process queue in Go instead of failing with
// SQLITE_BUSY; reads (Lookup, LegacyIDs, Ping) use a pool of read-only
// connections that WAL lets run beside the writer. Another process on the
// same file is held off by busy_timeout (OpTimeout). Use PostgreSQL to share
// the map between replicas.
type SQLite struct {
	w    *sql.DB // exactly one connection: every write
	r    *sql.DB // read-only connections: Lookup, LegacyIDs and Ping
	call call
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if needed) the SQLite database at path and
// migrates its schema. The parent directory must exist (Open creates it).
func OpenSQLite(ctx context.Context, path string, opt Options) (*SQLite, error) {
	ms, err := loadMigrations(migrationFS, "migrations/sqlite")
	if err != nil {
		return nil, fmt.Errorf("migrating id map: %w", err)
	}
	return openSQLiteWith(ctx, path, opt, ms)
}

// openSQLiteWith is OpenSQLite applying the migrations ms (tests pass a
// prefix to build an old schema).
func openSQLiteWith(ctx context.Context, path string, opt Options, ms []migration) (*SQLite, error) {
	opt = opt.withDefaults()
	octx, cancel := context.WithTimeout(ctx, opt.openTimeout())
	defer cancel()

	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	s := &SQLite{call: call{timeout: opt.OpTimeout, now: opt.Now, unavailable: sqliteUnavailable}}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", opt.OpTimeout.Milliseconds())
	base := "file:" + escapeSQLitePath(path) + "?" + busy
	var err error
	s.w, err = sql.Open("sqlite", base+"&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening id map: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	if err := s.enableWAL(octx); err != nil {
		s.w.Close()
		return nil, s.call.fail(ctx, "enabling write-ahead logging", err)
	}
	if err := s.migrate(octx, ms); err != nil {
		s.w.Close()
		return nil, s.call.fail(ctx, "migrating id map", err)
	}

	s.r, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("opening id map readers: %w", err)
	}
	s.r.SetMaxOpenConns(opt.MaxConns)
	s.r.SetMaxIdleConns(opt.MaxConns)
	if err := s.r.PingContext(octx); err != nil {
		s.Close()
		return nil, s.call.fail(ctx, "opening id map readers", err)
	}
	return s, nil
}

// ownerOnly creates the database file at path readable and writable by
// its owner only (0600), before SQLite creates it with the umask's 0644: it
// holds owner fingerprints and sealed purchase intents. An existing file,
// and its -wal and -shm files, lose any group and other permission. SQLite
// gives the -wal and -shm files it creates the database file's mode.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating id map file: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking id map file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("restricting id map file to its owner: %w", err)
			}
		}
	}
	return nil
}

// enableWAL switches the file to write-ahead logging, which persists in the
// file. The switch needs an exclusive lock, and SQLite reports a conflict
// with another connection at once instead of waiting for busy_timeout, so it
// is retried here until ctx is done.
func (s *SQLite) enableWAL(ctx context.Context) error {
	for {
		var mode string
		err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is %q, want wal", mode)
		case !isBusy(err):
			return err
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// escapeSQLitePath makes path safe inside a file: URI.
func escapeSQLitePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// migrate applies the migrations of ms not yet recorded in
// schema_migrations, in one BEGIN IMMEDIATE transaction, so that two
// processes opening the same file at once apply each migration once.
func (s *SQLite) migrate(ctx context.Context, ms []migration) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("applying %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, s.call.now().UTC().UnixMicro()); err != nil {
			return fmt.Errorf("recording %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := make(map[int]bool)
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	return applied, nil
}

// sqliteUnavailable reports errors that mean the file could not be used now:
// locks, I/O, a full disk, an interrupted statement.
func sqliteUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// blob stores a nil slice as NULL.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// Reserve implements Store.
func (s *SQLite) Reserve(ctx context.Context, r Reservation) (int64, error) {
	if err := checkReservation(r); err != nil {
		return 0, err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC().UnixMicro()
	const insert = `INSERT INTO id_map (owner, idem_key, state, intent, created_at, updated_at)
		VALUES (?, ?, 'pending', ?, ?, ?) RETURNING legacy_id`
	var id int64
	if r.Watch == nil {
		if err := s.w.QueryRowContext(octx, insert, r.Owner, r.IdemKey, blob(r.Intent), now, now).Scan(&id); err != nil {
			return 0, s.call.fail(ctx, "reserving a legacy id", err)
		}
		return id, nil
	}
	err := s.inTx(octx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(octx, insert, r.Owner, r.IdemKey, blob(r.Intent), now, now).Scan(&id); err != nil {
			return err
		}
		return sqliteInsertWatch(octx, tx, id, r, now)
	})
	if err != nil {
		return 0, s.call.fail(ctx, "reserving a legacy id", err)
	}
	return id, nil
}

// inTx runs f in one BEGIN IMMEDIATE transaction of the writer and
// commits it unless f fails.
func (s *SQLite) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// sqliteInsertWatch journals r's watch for row legacyID, if it has one.
func sqliteInsertWatch(ctx context.Context, tx *sql.Tx, legacyID int64, r Reservation, now int64) error {
	if r.Watch == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO callback_watches (legacy_id, owner, url, sealed_key, state, created_at, next_poll)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, legacyID, r.Owner, r.Watch.URL, r.Watch.Key, r.Watch.State, now, now)
	return err
}

// Commit implements Store.
func (s *SQLite) Commit(ctx context.Context, legacyID int64, nativeID string) error {
	what := fmt.Sprintf("committing legacy id %d", legacyID)
	if nativeID == "" {
		return fmt.Errorf("%s: empty native id", what)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	res, err := s.w.ExecContext(octx, `UPDATE id_map
		SET state = 'active', native_id = ?, intent = NULL, claimed_until = NULL, updated_at = ?
		WHERE legacy_id = ? AND state = 'pending'`,
		nativeID, s.call.now().UTC().UnixMicro(), legacyID)
	if err != nil {
		return s.call.fail(ctx, what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.call.fail(ctx, what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotPending)
	}
	return nil
}

// Release implements Store.
func (s *SQLite) Release(ctx context.Context, legacyID int64) error {
	what := fmt.Sprintf("releasing legacy id %d", legacyID)
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var state string
	err := s.inTx(octx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(octx, `UPDATE id_map
			SET state = 'void', intent = NULL, claimed_until = NULL, updated_at = ?
			WHERE legacy_id = ? AND state = 'pending' RETURNING state`,
			s.call.now().UTC().UnixMicro(), legacyID).Scan(&state)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(octx, "DELETE FROM callback_watches WHERE legacy_id = ?", legacyID)
		return err
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return s.call.fail(ctx, what, err)
	}
	err = s.w.QueryRowContext(octx, "SELECT state FROM id_map WHERE legacy_id = ?", legacyID).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return s.call.fail(ctx, what, err)
	case state == "active":
		return fmt.Errorf("%s: %w", what, ErrNotPending)
	}
	return nil
}

// Lookup implements Store.
func (s *SQLite) Lookup(ctx context.Context, owner string, legacyID int64) (string, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var nativeID string
	err := s.r.QueryRowContext(octx,
		"SELECT native_id FROM id_map WHERE legacy_id = ? AND owner = ? AND state = 'active'",
		legacyID, owner).Scan(&nativeID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("looking up legacy id %d: %w", legacyID, ErrNotFound)
	}
	if err != nil {
		return "", s.call.fail(ctx, fmt.Sprintf("looking up legacy id %d", legacyID), err)
	}
	return nativeID, nil
}

// LegacyIDs implements Store through a reader, with one placeholder per
// distinct native ID.
func (s *SQLite) LegacyIDs(ctx context.Context, owner string, nativeIDs []string) (map[string]int64, error) {
	return s.call.legacyIDs(ctx, nativeIDs, func(ctx context.Context, ids []string, add func(string, int64)) error {
		args := make([]any, 0, 1+len(ids))
		args = append(args, owner)
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := s.r.QueryContext(ctx, sqliteLegacyIDsQuery(len(ids)), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var nativeID string
			var legacyID int64
			if err := rows.Scan(&nativeID, &legacyID); err != nil {
				return err
			}
			add(nativeID, legacyID)
		}
		return rows.Err()
	})
}

// sqliteLegacyIDsQuery selects the active rows of owner (the first
// argument) whose native ID is one of the n arguments after it; the index
// of migration 0002 answers it.
func sqliteLegacyIDsQuery(n int) string {
	return "SELECT native_id, legacy_id FROM id_map WHERE owner = ? AND state = 'active' AND native_id IN (?" +
		strings.Repeat(", ?", n-1) + ")"
}

// Stale implements Store. The claim is one UPDATE ... RETURNING in a
// BEGIN IMMEDIATE transaction.
func (s *SQLite) Stale(ctx context.Context, before time.Time, lease time.Duration, limit int) ([]Pending, error) {
	if err := checkStale(lease, limit); err != nil {
		return nil, err
	}
	const what = "claiming stale rows"
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	tx, err := s.w.BeginTx(octx, nil)
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(octx, `UPDATE id_map
		SET claimed_until = ?, attempts = attempts + 1, updated_at = ?
		WHERE legacy_id IN (
			SELECT legacy_id FROM id_map
			WHERE state = 'pending' AND created_at < ? AND (claimed_until IS NULL OR claimed_until <= ?)
			ORDER BY created_at, legacy_id
			LIMIT ?)
		RETURNING legacy_id, owner, idem_key, intent, created_at, attempts`,
		now.Add(lease).UnixMicro(), now.UnixMicro(), before.UTC().UnixMicro(), now.UnixMicro(), limit)
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	defer rows.Close()
	var ps []Pending
	for rows.Next() {
		var p Pending
		var created int64
		if err := rows.Scan(&p.LegacyID, &p.Owner, &p.IdemKey, &p.Intent, &created, &p.Attempts); err != nil {
			return nil, s.call.fail(ctx, what, err)
		}
		p.CreatedAt = time.UnixMicro(created).UTC()
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	if err := rows.Close(); err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	sortPending(ps)
	return ps, nil
}

// sortPending orders claimed rows oldest first.
func sortPending(ps []Pending) {
	slices.SortFunc(ps, func(a, b Pending) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return int(min(max(a.LegacyID-b.LegacyID, -1), 1))
	})
}

// DeleteBefore implements Store.
func (s *SQLite) DeleteBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("deleting old rows: limit %d is not positive", limit)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	res, err := s.w.ExecContext(octx, `DELETE FROM id_map WHERE legacy_id IN (
		SELECT legacy_id FROM id_map
		WHERE created_at < ? AND state <> 'pending'
		ORDER BY created_at
		LIMIT ?)`, before.UTC().UnixMicro(), limit)
	if err != nil {
		return 0, s.call.fail(ctx, "deleting old rows", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.call.fail(ctx, "deleting old rows", err)
	}
	return n, nil
}

// Ping implements Store: it reads the schema version through a reader.
func (s *SQLite) Ping(ctx context.Context) error {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var n int
	if err := s.r.QueryRowContext(octx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return s.call.fail(ctx, "pinging id map", err)
	}
	return nil
}

// Close implements Store.
func (s *SQLite) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing id map: %w", err)
	}
	return nil
}

// ReserveRequest implements Store in one BEGIN IMMEDIATE transaction, which
// holds off every other writer of the file while it reads and decides.
func (s *SQLite) ReserveRequest(ctx context.Context, r Reservation, k RequestKey) (Claim, error) {
	if err := checkRequest(r, k); err != nil {
		return Claim{}, err
	}
	const what = "reserving a request id"
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	tx, err := s.w.BeginTx(octx, nil)
	if err != nil {
		return Claim{}, s.call.fail(ctx, what, err)
	}
	defer tx.Rollback()
	var b boundRow
	var created int64
	var state, nativeID, idemKey sql.NullString
	var claimed sql.NullInt64
	err = tx.QueryRowContext(octx, `SELECT r.params, r.legacy_id, r.created_at, m.state, m.native_id, m.idem_key, m.claimed_until
		FROM request_ids r LEFT JOIN id_map m ON m.legacy_id = r.legacy_id
		WHERE r.owner = ? AND r.request_id = ?`, r.Owner, k.ID).
		Scan(&b.params, &b.legacyID, &created, &state, &nativeID, &idemKey, &claimed)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Claim{}, s.call.fail(ctx, what, err)
	}
	b.createdAt = time.UnixMicro(created).UTC()
	b.state, b.nativeID, b.idemKey = state.String, nativeID.String, idemKey.String
	if claimed.Valid {
		b.claimedUntil = time.UnixMicro(claimed.Int64).UTC()
	}
	c, err := decide(found, b, k, now)
	if err != nil {
		return Claim{}, err
	}
	until := now.Add(k.Lease).UnixMicro()
	switch c.Kind {
	case ClaimActive, ClaimBusy:
		return c, nil
	case ClaimTaken:
		if _, err := tx.ExecContext(octx, `UPDATE id_map SET claimed_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE legacy_id = ?`, until, now.UnixMicro(), c.LegacyID); err != nil {
			return Claim{}, s.call.fail(ctx, what, err)
		}
	case ClaimNew:
		err := tx.QueryRowContext(octx, `INSERT INTO id_map (owner, idem_key, state, intent, created_at, updated_at, claimed_until)
			VALUES (?, ?, 'pending', ?, ?, ?, ?) RETURNING legacy_id`,
			r.Owner, r.IdemKey, blob(r.Intent), now.UnixMicro(), now.UnixMicro(), until).Scan(&c.LegacyID)
		if err != nil {
			return Claim{}, s.call.fail(ctx, what, err)
		}
		if err := sqliteInsertWatch(octx, tx, c.LegacyID, r, now.UnixMicro()); err != nil {
			return Claim{}, s.call.fail(ctx, what, err)
		}
		if _, err := tx.ExecContext(octx, `INSERT INTO request_ids (owner, request_id, params, legacy_id, created_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (owner, request_id) DO UPDATE SET params = excluded.params, legacy_id = excluded.legacy_id, created_at = excluded.created_at`,
			r.Owner, k.ID, k.Params, c.LegacyID, now.UnixMicro()); err != nil {
			return Claim{}, s.call.fail(ctx, what, err)
		}
		c.IdemKey = r.IdemKey
	}
	if err := tx.Commit(); err != nil {
		return Claim{}, s.call.fail(ctx, what, err)
	}
	return c, nil
}

// DeleteRequestsBefore implements Store.
func (s *SQLite) DeleteRequestsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("deleting old request ids: limit %d is not positive", limit)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	res, err := s.w.ExecContext(octx, `DELETE FROM request_ids WHERE (owner, request_id) IN (
		SELECT owner, request_id FROM request_ids WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
		before.UTC().UnixMicro(), limit)
	if err != nil {
		return 0, s.call.fail(ctx, "deleting old request ids", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.call.fail(ctx, "deleting old request ids", err)
	}
	return n, nil
}
