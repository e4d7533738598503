package idmap

import (
	"context"
	"errors"
)

// PingWrite reports whether the store can still write, which Ping (a read)
// cannot tell: a full disk leaves reads working while every Reserve fails.
// It commits one write transaction through the writer that creates a table
// and drops it again, so that it takes a page (from the free list, or by
// growing the file) and its commit is appended to the write-ahead log and
// synced, as a Reserve's is. It leaves the schema as it was. A full disk
// fails it with SQLITE_FULL, a read-only file with SQLITE_READONLY. It
// queues behind other writes like any of them, so call it at the pace of a
// readiness probe, not per request.
func (s *SQLite) PingWrite(ctx context.Context) error {
	octx, cancel := s.call.ctx(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(octx, nil)
	if err != nil {
		return s.call.fail(ctx, "probing id map writes", err)
	}
	_, err = tx.ExecContext(octx, "CREATE TABLE write_probe (x INTEGER)")
	if err == nil {
		_, err = tx.ExecContext(octx, "DROP TABLE write_probe")
	}
	if err == nil {
		err = tx.Commit()
	} else {
		err = errors.Join(err, tx.Rollback())
	}
	if err != nil {
		return s.call.fail(ctx, "probing id map writes", err)
	}
	return nil
}
