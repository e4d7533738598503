package idmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLockKey is the first key of the advisory lock that serialises
// migrations; the second is a hash of the schema, so that stores in
// different schemas migrate independently.
const migrationLockKey int32 = 0x69646d70 // "idmp"

// Postgres is the shared store for replicas: a pgxpool over one schema
// (the DSN's search_path). Legacy IDs come from one sequence, so they are
// unique across replicas; Stale claims rows with FOR UPDATE SKIP LOCKED, so
// two replicas never work the same row at once.
type Postgres struct {
	pool *pgxpool.Pool
	call call
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to the PostgreSQL database of dsn
// ("postgres://user@host:port/db?sslmode=...&search_path=schema") and
// migrates its schema under an advisory lock, so that replicas starting at
// once are safe. Unless the DSN sets them, connect_timeout is OpTimeout and
// the server's statement_timeout is OpTimeout too, so that the server
// abandons what the client gave up on. A server that does not answer yet is
// tried again until a start-up window of 15 x OpTimeout (30s by default)
// has passed; then the error names the server (never the password) and
// matches ErrUnavailable.
func OpenPostgres(ctx context.Context, dsn string, opt Options) (*Postgres, error) {
	ms, err := loadMigrations(migrationFS, "migrations/postgres")
	if err != nil {
		return nil, fmt.Errorf("migrating id map: %w", err)
	}
	return openPostgresWith(ctx, dsn, opt, ms)
}

// openPostgresWith is OpenPostgres applying the migrations ms (tests pass a
// prefix to build an old schema).
func openPostgresWith(ctx context.Context, dsn string, opt Options, ms []migration) (*Postgres, error) {
	opt = opt.withDefaults()
	octx, cancel := context.WithTimeout(ctx, opt.openTimeout())
	defer cancel()

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing id map dsn: %w", err)
	}
	cfg.MaxConns = int32(min(opt.MaxConns, 1<<30))
	cc := cfg.ConnConfig
	if cc.ConnectTimeout <= 0 || cc.ConnectTimeout > opt.OpTimeout {
		cc.ConnectTimeout = opt.OpTimeout
	}
	if _, ok := cc.RuntimeParams["statement_timeout"]; !ok {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(opt.OpTimeout.Milliseconds(), 10)
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "smsbulk-shim idmap"
	}

	pool, err := pgxpool.NewWithConfig(octx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening id map pool: %w", err)
	}
	s := &Postgres{pool: pool, call: call{timeout: opt.OpTimeout, now: opt.Now, unavailable: pgUnavailable}}
	if err := s.migrateWhenUp(ctx, octx, opt.openTimeout(), ms); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), err)
	}
	return s, nil
}

// migrateWhenUp migrates the schema, waiting for a server that does not
// answer yet (starting, restarting, its network not up) until octx, the
// start-up window, is done: an unreachable server is tried again with a
// growing pause, any other error ends it at once.
func (s *Postgres) migrateWhenUp(ctx, octx context.Context, window time.Duration, ms []migration) error {
	pause := 100 * time.Millisecond
	for {
		err := s.migrate(octx, ms)
		if err == nil {
			return nil
		}
		err = s.call.fail(ctx, "migrating id map", err)
		if !errors.Is(err, ErrUnavailable) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-octx.Done():
			t.Stop()
			return fmt.Errorf("no answer within the start-up window of %v: %w", window, err)
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// migrate applies the migrations of ms not yet recorded in
// schema_migrations, in one transaction holding a transaction-level advisory
// lock, so that concurrent replicas apply each migration exactly once.
func (s *Postgres) migrate(ctx context.Context, ms []migration) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Waiting for another replica's migration may take longer than one call.
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		return fmt.Errorf("lifting statement_timeout: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))",
		migrationLockKey); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("applying %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
			int32(m.version), s.call.now().UTC()); err != nil {
			return fmt.Errorf("recording %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// pgUnavailable reports errors that mean the server could not be reached
// or could not serve: connection failures, resets, timeouts, shutdowns,
// resource exhaustion and cancelled statements. A server error about the
// request itself (syntax, constraint, authentication) is not one.
func pgUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),   // insufficient resources
			strings.HasPrefix(pgErr.Code, "57P0"), // admin/crash shutdown, cannot connect now
			pgErr.Code == "57014":                 // query_canceled (statement_timeout)
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// Reserve implements Store.
func (s *Postgres) Reserve(ctx context.Context, r Reservation) (int64, error) {
	if err := checkReservation(r); err != nil {
		return 0, err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	const insert = `INSERT INTO id_map (owner, idem_key, state, intent, created_at, updated_at)
		VALUES ($1, $2, 'pending', $3, $4, $4) RETURNING legacy_id`
	var id int64
	if r.Watch == nil {
		if err := s.pool.QueryRow(octx, insert, r.Owner, r.IdemKey, r.Intent, now).Scan(&id); err != nil {
			return 0, s.call.fail(ctx, "reserving a legacy id", err)
		}
		return id, nil
	}
	err := pgx.BeginFunc(octx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(octx, insert, r.Owner, r.IdemKey, r.Intent, now).Scan(&id); err != nil {
			return err
		}
		return pgInsertWatch(octx, tx, id, r, now)
	})
	if err != nil {
		return 0, s.call.fail(ctx, "reserving a legacy id", err)
	}
	return id, nil
}

// pgInsertWatch journals r's watch for row legacyID, if it has one.
func pgInsertWatch(ctx context.Context, tx pgx.Tx, legacyID int64, r Reservation, now time.Time) error {
	if r.Watch == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO callback_watches (legacy_id, owner, url, sealed_key, state, created_at, next_poll)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, legacyID, r.Owner, r.Watch.URL, r.Watch.Key, r.Watch.State, now)
	return err
}

// Commit implements Store.
func (s *Postgres) Commit(ctx context.Context, legacyID int64, nativeID string) error {
	what := fmt.Sprintf("committing legacy id %d", legacyID)
	if nativeID == "" {
		return fmt.Errorf("%s: empty native id", what)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(octx, `UPDATE id_map
		SET state = 'active', native_id = $1, intent = NULL, claimed_until = NULL, updated_at = $2
		WHERE legacy_id = $3 AND state = 'pending'`,
		nativeID, s.call.now().UTC(), legacyID)
	if err != nil {
		return s.call.fail(ctx, what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotPending)
	}
	return nil
}

// Release implements Store.
func (s *Postgres) Release(ctx context.Context, legacyID int64) error {
	what := fmt.Sprintf("releasing legacy id %d", legacyID)
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	// One statement: the row is voided and its watch deleted together.
	var voided int
	err := s.pool.QueryRow(octx, `WITH voided AS (
			UPDATE id_map SET state = 'void', intent = NULL, claimed_until = NULL, updated_at = $1
			WHERE legacy_id = $2 AND state = 'pending' RETURNING legacy_id),
		unwatched AS (DELETE FROM callback_watches WHERE legacy_id IN (SELECT legacy_id FROM voided))
		SELECT count(*) FROM voided`,
		s.call.now().UTC(), legacyID).Scan(&voided)
	if err != nil {
		return s.call.fail(ctx, what, err)
	}
	if voided > 0 {
		return nil
	}
	var state string
	err = s.pool.QueryRow(octx, "SELECT state FROM id_map WHERE legacy_id = $1", legacyID).Scan(&state)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return s.call.fail(ctx, what, err)
	case state == "active":
		return fmt.Errorf("%s: %w", what, ErrNotPending)
	}
	return nil
}

// Lookup implements Store.
func (s *Postgres) Lookup(ctx context.Context, owner string, legacyID int64) (string, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var nativeID string
	err := s.pool.QueryRow(octx,
		"SELECT native_id FROM id_map WHERE legacy_id = $1 AND owner = $2 AND state = 'active'",
		legacyID, owner).Scan(&nativeID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("looking up legacy id %d: %w", legacyID, ErrNotFound)
	}
	if err != nil {
		return "", s.call.fail(ctx, fmt.Sprintf("looking up legacy id %d", legacyID), err)
	}
	return nativeID, nil
}

// LegacyIDs implements Store with the native IDs as one array parameter.
func (s *Postgres) LegacyIDs(ctx context.Context, owner string, nativeIDs []string) (map[string]int64, error) {
	return s.call.legacyIDs(ctx, nativeIDs, func(ctx context.Context, ids []string, add func(string, int64)) error {
		rows, err := s.pool.Query(ctx, pgLegacyIDsQuery, owner, ids)
		if err != nil {
			return err
		}
		var nativeID string
		var legacyID int64
		_, err = pgx.ForEachRow(rows, []any{&nativeID, &legacyID}, func() error {
			add(nativeID, legacyID)
			return nil
		})
		return err
	})
}

// pgLegacyIDsQuery selects the active rows of owner ($1) whose native ID is
// in the array $2; the index of migration 0002 answers it.
const pgLegacyIDsQuery = "SELECT native_id, legacy_id FROM id_map WHERE owner = $1 AND state = 'active' AND native_id = ANY($2)"

// Stale implements Store with one UPDATE over a FOR UPDATE SKIP LOCKED
// subquery: rows another replica is claiming at the same moment are skipped.
func (s *Postgres) Stale(ctx context.Context, before time.Time, lease time.Duration, limit int) ([]Pending, error) {
	if err := checkStale(lease, limit); err != nil {
		return nil, err
	}
	const what = "claiming stale rows"
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	rows, err := s.pool.Query(octx, `UPDATE id_map
		SET claimed_until = $1, attempts = attempts + 1, updated_at = $2
		WHERE legacy_id IN (
			SELECT legacy_id FROM id_map
			WHERE state = 'pending' AND created_at < $3 AND (claimed_until IS NULL OR claimed_until <= $2)
			ORDER BY created_at, legacy_id
			LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING legacy_id, owner, idem_key, intent, created_at, attempts`,
		now.Add(lease), now, before.UTC(), limit)
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Pending, error) {
		var p Pending
		var attempts int32
		err := row.Scan(&p.LegacyID, &p.Owner, &p.IdemKey, &p.Intent, &p.CreatedAt, &attempts)
		p.CreatedAt = p.CreatedAt.UTC()
		p.Attempts = int(attempts)
		return p, err
	})
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	sortPending(ps)
	return ps, nil
}

// DeleteBefore implements Store.
func (s *Postgres) DeleteBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("deleting old rows: limit %d is not positive", limit)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(octx, `DELETE FROM id_map WHERE legacy_id IN (
		SELECT legacy_id FROM id_map
		WHERE created_at < $1 AND state <> 'pending'
		ORDER BY created_at
		LIMIT $2
		FOR UPDATE SKIP LOCKED)`, before.UTC(), limit)
	if err != nil {
		return 0, s.call.fail(ctx, "deleting old rows", err)
	}
	return tag.RowsAffected(), nil
}

// Ping implements Store.
func (s *Postgres) Ping(ctx context.Context) error {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	if err := s.pool.Ping(octx); err != nil {
		return s.call.fail(ctx, "pinging id map", err)
	}
	return nil
}

// Close implements Store. It waits for connections in use to be returned.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// ReserveRequest implements Store in one transaction that locks the
// binding (SELECT ... FOR UPDATE), so that retries on several replicas
// decide one at a time; two first requests racing to bind are settled by
// the primary key, and the loser starts again and finds the winner's row.
func (s *Postgres) ReserveRequest(ctx context.Context, r Reservation, k RequestKey) (Claim, error) {
	if err := checkRequest(r, k); err != nil {
		return Claim{}, err
	}
	const what = "reserving a request id"
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	for {
		c, raced, err := s.reserveRequest(octx, r, k)
		if err != nil {
			return Claim{}, s.call.fail(ctx, what, err)
		}
		if !raced {
			return c, nil
		}
	}
}

// reserveRequest is one attempt of ReserveRequest; raced reports that
// another transaction bound the request ID first.
func (s *Postgres) reserveRequest(ctx context.Context, r Reservation, k RequestKey) (c Claim, raced bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Claim{}, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	now := s.call.now().UTC()
	var b boundRow
	var state, nativeID, idemKey *string
	var claimed *time.Time
	err = tx.QueryRow(ctx, `SELECT r.params, r.legacy_id, r.created_at, m.state, m.native_id, m.idem_key, m.claimed_until
		FROM request_ids r LEFT JOIN id_map m ON m.legacy_id = r.legacy_id
		WHERE r.owner = $1 AND r.request_id = $2
		FOR UPDATE OF r`, r.Owner, k.ID).
		Scan(&b.params, &b.legacyID, &b.createdAt, &state, &nativeID, &idemKey, &claimed)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, false, err
	}
	if state != nil {
		b.state = *state
	}
	if nativeID != nil {
		b.nativeID = *nativeID
	}
	if idemKey != nil {
		b.idemKey = *idemKey
	}
	if claimed != nil {
		b.claimedUntil = claimed.UTC()
	}
	c, err = decide(found, b, k, now)
	if err != nil {
		return Claim{}, false, err
	}
	until := now.Add(k.Lease)
	switch c.Kind {
	case ClaimActive, ClaimBusy:
		return c, false, nil
	case ClaimTaken:
		// The binding's lock does not hold off the Reconciler, which claims
		// id_map rows directly: take the row only if its claim is still free.
		tag, err := tx.Exec(ctx, `UPDATE id_map SET claimed_until = $1, attempts = attempts + 1, updated_at = $2
			WHERE legacy_id = $3 AND state = 'pending' AND (claimed_until IS NULL OR claimed_until <= $2)`,
			until, now, c.LegacyID)
		if err != nil {
			return Claim{}, false, err
		}
		if tag.RowsAffected() == 0 {
			return Claim{Kind: ClaimBusy, LegacyID: c.LegacyID, ClaimedUntil: until}, false, nil
		}
	case ClaimNew:
		if err := tx.QueryRow(ctx, `INSERT INTO id_map (owner, idem_key, state, intent, created_at, updated_at, claimed_until)
			VALUES ($1, $2, 'pending', $3, $4, $4, $5) RETURNING legacy_id`,
			r.Owner, r.IdemKey, r.Intent, now, until).Scan(&c.LegacyID); err != nil {
			return Claim{}, false, err
		}
		if err := pgInsertWatch(ctx, tx, c.LegacyID, r, now); err != nil {
			return Claim{}, false, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO request_ids (owner, request_id, params, legacy_id, created_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (owner, request_id) DO UPDATE SET params = EXCLUDED.params, legacy_id = EXCLUDED.legacy_id, created_at = EXCLUDED.created_at
			WHERE $6`, r.Owner, k.ID, k.Params, c.LegacyID, now, found)
		if err != nil {
			return Claim{}, false, err
		}
		if tag.RowsAffected() == 0 {
			// Another transaction bound it after our read found nothing.
			return Claim{}, true, nil
		}
		c.IdemKey = r.IdemKey
	}
	if err := tx.Commit(ctx); err != nil {
		return Claim{}, false, err
	}
	return c, false, nil
}

// DeleteRequestsBefore implements Store.
func (s *Postgres) DeleteRequestsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("deleting old request ids: limit %d is not positive", limit)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(octx, `DELETE FROM request_ids WHERE (owner, request_id) IN (
		SELECT owner, request_id FROM request_ids WHERE created_at < $1 ORDER BY created_at LIMIT $2
		FOR UPDATE SKIP LOCKED)`, before.UTC(), limit)
	if err != nil {
		return 0, s.call.fail(ctx, "deleting old request ids", err)
	}
	return tag.RowsAffected(), nil
}
