package idmap

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSQLiteFileOwnerOnly checks that the database file and its -wal and
// -shm files are readable by their owner only, new or found 0644.
func TestSQLiteFileOwnerOnly(t *testing.T) {
	t.Parallel()
	for _, existing := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "idmap.db")
		if existing {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reserve(t.Context(), Reservation{Owner: "o", IdemKey: "k", Intent: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("existing %v: %s is %v, want 0600", existing, filepath.Base(p), m)
			}
		}
		s.Close()
	}
}
