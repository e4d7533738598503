package idmap

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		files        fstest.MapFS
		wantVersions []int
		wantErr      bool
	}{
		{
			name: "sorted by version",
			files: fstest.MapFS{
				"m/0010_ten.sql": {Data: []byte("ten")},
				"m/0002_two.sql": {Data: []byte("two")},
				"m/README.md":    {Data: []byte("not a migration")},
			},
			wantVersions: []int{2, 10},
		},
		{name: "no version", files: fstest.MapFS{"m/init.sql": {}}, wantErr: true},
		{name: "bad version", files: fstest.MapFS{"m/x_init.sql": {}}, wantErr: true},
		{name: "duplicate", files: fstest.MapFS{"m/1_a.sql": {}, "m/0001_b.sql": {}}, wantErr: true},
		{name: "empty", files: fstest.MapFS{"m/README.md": {}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.files, "m")
			if tc.wantErr {
				if err == nil {
					t.Fatalf("loadMigrations = %v, want an error", ms)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(tc.wantVersions) {
				t.Fatalf("versions = %v, want %v", got, tc.wantVersions)
			}
			for i := range got {
				if got[i] != tc.wantVersions[i] {
					t.Fatalf("versions = %v, want %v", got, tc.wantVersions)
				}
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"migrations/sqlite", "migrations/postgres"} {
		t.Run(dir, func(t *testing.T) {
			ms, err := loadMigrations(migrationFS, dir)
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			if ms[0].version != 1 {
				t.Fatalf("first migration is version %d, want 1", ms[0].version)
			}
		})
	}
	// Both backends have the same steps, numbered 1, 2, ... with no gap.
	sq, errSQ := loadMigrations(migrationFS, "migrations/sqlite")
	pg, errPG := loadMigrations(migrationFS, "migrations/postgres")
	if errSQ != nil || errPG != nil {
		t.Fatalf("loadMigrations: %v, %v", errSQ, errPG)
	}
	if len(sq) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones; want the same steps", len(sq), len(pg))
	}
	for i := range sq {
		if sq[i].version != i+1 || sq[i].name != pg[i].name {
			t.Fatalf("migration %d is %s (SQLite) and %s (PostgreSQL); want version %d in both", i, sq[i].name, pg[i].name, i+1)
		}
	}
}
