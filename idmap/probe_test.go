package idmap

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestSQLitePingWriteNoticesAFullDisk caps the database at its present
// size, as a full disk does: Ping still answers, PingWrite fails with
// SQLITE_FULL; once there is room again PingWrite succeeds, so nothing
// sticks.
func TestSQLitePingWriteNoticesAFullDisk(t *testing.T) {
	t.Parallel()
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "idmap.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var pages int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// max_page_count is per connection; the writer has exactly one.
	if _, err := s.w.ExecContext(t.Context(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on a full disk: %v (reads still work)", err)
	}
	err = s.PingWrite(t.Context())
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_FULL {
		t.Fatalf("PingWrite on a full disk = %v, want SQLITE_FULL", err)
	}
	if _, err := s.w.ExecContext(t.Context(), "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.PingWrite(t.Context()); err != nil {
			t.Fatalf("PingWrite with room again: %v", err)
		}
	}
	var tables int
	if err := s.r.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_schema WHERE name = 'write_probe'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("write_probe tables left: %d, %v", tables, err)
	}
}
