package idmap

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DueWatches implements Store with one UPDATE over a FOR UPDATE SKIP
// LOCKED subquery: watches another replica is claiming at the same moment
// are skipped.
func (s *Postgres) DueWatches(ctx context.Context, lease time.Duration, limit int) ([]WatchClaim, error) {
	const what = "claiming callback watches"
	if err := checkClaim(what, lease, limit); err != nil {
		return nil, err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	rows, err := s.pool.Query(octx, `UPDATE callback_watches w SET claimed_until = $1, attempts = w.attempts + 1
		FROM id_map m
		WHERE m.legacy_id = w.legacy_id AND w.legacy_id IN (
			SELECT cw.legacy_id FROM callback_watches cw JOIN id_map cm ON cm.legacy_id = cw.legacy_id
			WHERE cm.state = 'active' AND cw.next_poll <= $2 AND (cw.claimed_until IS NULL OR cw.claimed_until <= $2)
			ORDER BY cw.next_poll, cw.legacy_id
			LIMIT $3
			FOR UPDATE OF cw SKIP LOCKED)
		RETURNING w.legacy_id, w.owner, m.native_id, w.url, w.sealed_key, w.state, w.seq, w.created_at, w.attempts, w.next_poll`,
		now.Add(lease), now, limit)
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	type row struct {
		w    WatchClaim
		next time.Time
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		var seq, attempts int32
		err := r.Scan(&x.w.LegacyID, &x.w.Owner, &x.w.NativeID, &x.w.URL, &x.w.Key, &x.w.State, &seq, &x.w.CreatedAt, &attempts, &x.next)
		x.w.Seq, x.w.Attempts, x.w.CreatedAt = int(seq), int(attempts), x.w.CreatedAt.UTC()
		return x, err
	})
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	ws := make([]WatchClaim, 0, len(rs))
	for _, r := range sortedBy(rs, func(r row) (time.Time, int64) { return r.next, r.w.LegacyID }) {
		ws = append(ws, r.w)
	}
	return ws, nil
}

// RecordWatch implements Store in one transaction.
func (s *Postgres) RecordWatch(ctx context.Context, u WatchUpdate) error {
	what := fmt.Sprintf("recording the callback watch of legacy id %d", u.LegacyID)
	if err := checkUpdate(u); err != nil {
		return err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	moved := false
	err := pgx.BeginFunc(octx, s.pool, func(tx pgx.Tx) error {
		var n int64
		if u.End {
			tag, err := tx.Exec(octx, "DELETE FROM callback_watches WHERE legacy_id = $1 AND seq = $2", u.LegacyID, u.Seq)
			if err != nil {
				return err
			}
			n = tag.RowsAffected()
		} else {
			seq := u.Seq
			if u.Event != nil {
				seq++
			}
			tag, err := tx.Exec(octx, `UPDATE callback_watches SET state = $1, seq = $2, next_poll = $3, claimed_until = NULL
				WHERE legacy_id = $4 AND seq = $5`, u.State, seq, u.NextPoll.UTC(), u.LegacyID, u.Seq)
			if err != nil {
				return err
			}
			n = tag.RowsAffected()
		}
		if n == 0 {
			moved = true
			return errRollback
		}
		if e := u.Event; e != nil {
			_, err := tx.Exec(octx, `INSERT INTO callback_outbox (event_id, legacy_id, url, body, signature, created_at, next_attempt)
				VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING`,
				e.ID, e.LegacyID, e.URL, e.Body, e.Signature, now)
			return err
		}
		return nil
	})
	if moved {
		return fmt.Errorf("%s: %w", what, ErrWatchMoved)
	}
	if err != nil {
		return s.call.fail(ctx, what, err)
	}
	return nil
}

// DueEvents implements Store with one UPDATE over a FOR UPDATE SKIP
// LOCKED subquery.
func (s *Postgres) DueEvents(ctx context.Context, lease time.Duration, limit int) ([]DueEvent, error) {
	const what = "claiming callback events"
	if err := checkClaim(what, lease, limit); err != nil {
		return nil, err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	rows, err := s.pool.Query(octx, `UPDATE callback_outbox SET claimed_until = $1, attempts = attempts + 1
		WHERE event_id IN (
			SELECT event_id FROM callback_outbox
			WHERE state = 'due' AND next_attempt <= $2 AND (claimed_until IS NULL OR claimed_until <= $2)
			ORDER BY next_attempt
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		RETURNING event_id, legacy_id, url, body, signature, created_at, attempts`,
		now.Add(lease), now, limit)
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueEvent, error) {
		var e DueEvent
		var attempts int32
		err := r.Scan(&e.ID, &e.LegacyID, &e.URL, &e.Body, &e.Signature, &e.CreatedAt, &attempts)
		e.Attempts, e.CreatedAt = int(attempts), e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	return sortedBy(es, func(e DueEvent) (time.Time, int64) { return e.CreatedAt, e.LegacyID }), nil
}

// SettleEvent implements Store.
func (s *Postgres) SettleEvent(ctx context.Context, eventID string, o Outcome, next time.Time) error {
	what := fmt.Sprintf("settling callback event %s", eventID)
	state, err := outboxState(o)
	if err != nil {
		return err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	var settled *time.Time
	if o != Retry {
		settled = &now
	}
	if _, err := s.pool.Exec(octx, `UPDATE callback_outbox
		SET state = $1, next_attempt = $2, claimed_until = NULL, settled_at = $3
		WHERE event_id = $4 AND state = 'due'`, state, next.UTC(), settled, eventID); err != nil {
		return s.call.fail(ctx, what, err)
	}
	return nil
}

// DeleteEventsBefore implements Store.
func (s *Postgres) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	const what = "deleting old callback events"
	if limit <= 0 {
		return 0, fmt.Errorf("%s: limit %d is not positive", what, limit)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	var n int64
	for _, q := range []string{
		`DELETE FROM callback_outbox WHERE event_id IN (
			SELECT event_id FROM callback_outbox WHERE created_at < $1 AND state <> 'due' ORDER BY created_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`,
		`DELETE FROM callback_watches WHERE legacy_id IN (
			SELECT legacy_id FROM callback_watches WHERE created_at < $1 ORDER BY created_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`,
	} {
		tag, err := s.pool.Exec(octx, q, before.UTC(), limit)
		if err != nil {
			return n, s.call.fail(ctx, what, err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
