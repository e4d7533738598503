package idmap

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Row is one row of the ID map as an operator sees it: never the sealed
// intent, which holds the API key.
type Row struct {
	LegacyID int64
	// Owner is the owner fingerprint given to Reserve.
	Owner string
	// State is pending, active or void.
	State string
	// NativeID is the native activation ID, "" while none is known.
	NativeID string
	// IdemKey is the idempotency key of the native purchase.
	IdemKey string
	// CreatedAt and UpdatedAt are in UTC.
	CreatedAt, UpdatedAt time.Time
	// Attempts counts the reconciler's claims of the row.
	Attempts int
}

// PendingSummary is how many purchases are journaled but not settled, and
// when the oldest was reserved (zero when there is none): the money at
// risk.
type PendingSummary struct {
	Count  int64
	Oldest time.Time
}

// Row returns the row of legacyID whatever its owner, or ErrNotFound. It is
// for operators (smsbulk-shim idmap lookup); the shim looks up by owner.
func (s *SQLite) Row(ctx context.Context, legacyID int64) (Row, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var r Row
	var native sql.NullString
	var created, updated int64
	err := s.r.QueryRowContext(octx, `SELECT legacy_id, owner, state, native_id, idem_key, created_at, updated_at, attempts
		FROM id_map WHERE legacy_id = ?`, legacyID).
		Scan(&r.LegacyID, &r.Owner, &r.State, &native, &r.IdemKey, &created, &updated, &r.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, ErrNotFound
	}
	if err != nil {
		return Row{}, s.call.fail(ctx, "reading a row", err)
	}
	r.NativeID = native.String
	r.CreatedAt, r.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return r, nil
}

// Pending summarises the pending rows (one indexed scan).
func (s *SQLite) Pending(ctx context.Context) (PendingSummary, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var p PendingSummary
	var oldest sql.NullInt64
	if err := s.r.QueryRowContext(octx, `SELECT count(*), min(created_at) FROM id_map WHERE state = 'pending'`).
		Scan(&p.Count, &oldest); err != nil {
		return PendingSummary{}, s.call.fail(ctx, "counting pending rows", err)
	}
	if oldest.Valid {
		p.Oldest = time.UnixMicro(oldest.Int64).UTC()
	}
	return p, nil
}

// Row is as for SQLite.Row.
func (s *Postgres) Row(ctx context.Context, legacyID int64) (Row, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var r Row
	var native *string
	var attempts int32
	err := s.pool.QueryRow(octx, `SELECT legacy_id, owner, state, native_id, idem_key, created_at, updated_at, attempts
		FROM id_map WHERE legacy_id = $1`, legacyID).
		Scan(&r.LegacyID, &r.Owner, &r.State, &native, &r.IdemKey, &r.CreatedAt, &r.UpdatedAt, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return Row{}, ErrNotFound
	}
	if err != nil {
		return Row{}, s.call.fail(ctx, "reading a row", err)
	}
	if native != nil {
		r.NativeID = *native
	}
	r.CreatedAt, r.UpdatedAt, r.Attempts = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), int(attempts)
	return r, nil
}

// Pending is as for SQLite.Pending.
func (s *Postgres) Pending(ctx context.Context) (PendingSummary, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var p PendingSummary
	var oldest *time.Time
	if err := s.pool.QueryRow(octx, `SELECT count(*), min(created_at) FROM id_map WHERE state = 'pending'`).
		Scan(&p.Count, &oldest); err != nil {
		return PendingSummary{}, s.call.fail(ctx, "counting pending rows", err)
	}
	if oldest != nil {
		p.Oldest = oldest.UTC()
	}
	return p, nil
}

// OutboxDue counts the callback events waiting for delivery, every
// replica's (the outbox's partial index answers it).
func (s *SQLite) OutboxDue(ctx context.Context) (int64, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var n int64
	if err := s.r.QueryRowContext(octx, `SELECT count(*) FROM callback_outbox WHERE state = 'due'`).Scan(&n); err != nil {
		return 0, s.call.fail(ctx, "counting due callback events", err)
	}
	return n, nil
}

// OutboxDue is as for SQLite.OutboxDue.
func (s *Postgres) OutboxDue(ctx context.Context) (int64, error) {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(octx, `SELECT count(*) FROM callback_outbox WHERE state = 'due'`).Scan(&n); err != nil {
		return 0, s.call.fail(ctx, "counting due callback events", err)
	}
	return n, nil
}
