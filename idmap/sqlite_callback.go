package idmap

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// DueWatches implements Store: in one BEGIN IMMEDIATE transaction, which
// holds off every other writer of the file, it reads the due watches of
// active rows and claims them.
func (s *SQLite) DueWatches(ctx context.Context, lease time.Duration, limit int) ([]WatchClaim, error) {
	const what = "claiming callback watches"
	if err := checkClaim(what, lease, limit); err != nil {
		return nil, err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	var ws []WatchClaim
	err := s.inTx(octx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(octx, `SELECT w.legacy_id, w.owner, m.native_id, w.url, w.sealed_key, w.state, w.seq, w.created_at, w.attempts
			FROM callback_watches w JOIN id_map m ON m.legacy_id = w.legacy_id
			WHERE m.state = 'active' AND w.next_poll <= ? AND (w.claimed_until IS NULL OR w.claimed_until <= ?)
			ORDER BY w.next_poll, w.legacy_id LIMIT ?`, now.UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var w WatchClaim
			var created int64
			if err := rows.Scan(&w.LegacyID, &w.Owner, &w.NativeID, &w.URL, &w.Key, &w.State, &w.Seq, &created, &w.Attempts); err != nil {
				return err
			}
			w.CreatedAt = time.UnixMicro(created).UTC()
			w.Attempts++
			ws = append(ws, w)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(ws) == 0 {
			return nil
		}
		args := []any{now.Add(lease).UnixMicro()}
		for _, w := range ws {
			args = append(args, w.LegacyID)
		}
		_, err = tx.ExecContext(octx, `UPDATE callback_watches SET claimed_until = ?, attempts = attempts + 1
			WHERE legacy_id IN (?`+strings.Repeat(", ?", len(ws)-1)+`)`, args...)
		return err
	})
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	return ws, nil
}

// RecordWatch implements Store in one BEGIN IMMEDIATE transaction.
func (s *SQLite) RecordWatch(ctx context.Context, u WatchUpdate) error {
	what := fmt.Sprintf("recording the callback watch of legacy id %d", u.LegacyID)
	if err := checkUpdate(u); err != nil {
		return err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC().UnixMicro()
	moved := false
	err := s.inTx(octx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if u.End {
			res, err = tx.ExecContext(octx, "DELETE FROM callback_watches WHERE legacy_id = ? AND seq = ?", u.LegacyID, u.Seq)
		} else {
			seq := u.Seq
			if u.Event != nil {
				seq++
			}
			res, err = tx.ExecContext(octx, `UPDATE callback_watches SET state = ?, seq = ?, next_poll = ?, claimed_until = NULL
				WHERE legacy_id = ? AND seq = ?`, u.State, seq, u.NextPoll.UTC().UnixMicro(), u.LegacyID, u.Seq)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			moved = true
			return errRollback
		}
		if e := u.Event; e != nil {
			_, err = tx.ExecContext(octx, `INSERT INTO callback_outbox (event_id, legacy_id, url, body, signature, created_at, next_attempt)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
				e.ID, e.LegacyID, e.URL, e.Body, e.Signature, now, now)
		}
		return err
	})
	if moved {
		return fmt.Errorf("%s: %w", what, ErrWatchMoved)
	}
	if err != nil {
		return s.call.fail(ctx, what, err)
	}
	return nil
}

// DueEvents implements Store with one UPDATE ... RETURNING in a BEGIN
// IMMEDIATE transaction.
func (s *SQLite) DueEvents(ctx context.Context, lease time.Duration, limit int) ([]DueEvent, error) {
	const what = "claiming callback events"
	if err := checkClaim(what, lease, limit); err != nil {
		return nil, err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC()
	var es []DueEvent
	err := s.inTx(octx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(octx, `UPDATE callback_outbox SET claimed_until = ?, attempts = attempts + 1
			WHERE event_id IN (
				SELECT event_id FROM callback_outbox
				WHERE state = 'due' AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
				ORDER BY next_attempt LIMIT ?)
			RETURNING event_id, legacy_id, url, body, signature, created_at, attempts`,
			now.Add(lease).UnixMicro(), now.UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e DueEvent
			var created int64
			if err := rows.Scan(&e.ID, &e.LegacyID, &e.URL, &e.Body, &e.Signature, &created, &e.Attempts); err != nil {
				return err
			}
			e.CreatedAt = time.UnixMicro(created).UTC()
			es = append(es, e)
		}
		return rows.Close()
	})
	if err != nil {
		return nil, s.call.fail(ctx, what, err)
	}
	return es, nil
}

// SettleEvent implements Store.
func (s *SQLite) SettleEvent(ctx context.Context, eventID string, o Outcome, next time.Time) error {
	what := fmt.Sprintf("settling callback event %s", eventID)
	state, err := outboxState(o)
	if err != nil {
		return err
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	now := s.call.now().UTC().UnixMicro()
	var settled any
	if o != Retry {
		settled = now
	}
	if _, err := s.w.ExecContext(octx, `UPDATE callback_outbox
		SET state = ?, next_attempt = ?, claimed_until = NULL, settled_at = ?
		WHERE event_id = ? AND state = 'due'`, state, next.UTC().UnixMicro(), settled, eventID); err != nil {
		return s.call.fail(ctx, what, err)
	}
	return nil
}

// DeleteEventsBefore implements Store.
func (s *SQLite) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	const what = "deleting old callback events"
	if limit <= 0 {
		return 0, fmt.Errorf("%s: limit %d is not positive", what, limit)
	}
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	b := before.UTC().UnixMicro()
	var n int64
	err := s.inTx(octx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM callback_outbox WHERE event_id IN (
				SELECT event_id FROM callback_outbox WHERE created_at < ? AND state <> 'due' ORDER BY created_at LIMIT ?)`,
			`DELETE FROM callback_watches WHERE legacy_id IN (
				SELECT legacy_id FROM callback_watches WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
		} {
			res, err := tx.ExecContext(octx, q, b, limit)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += d
		}
		return nil
	})
	if err != nil {
		return 0, s.call.fail(ctx, what, err)
	}
	return n, nil
}
