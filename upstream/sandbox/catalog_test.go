package sandbox

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCatalogOffers(t *testing.T) {
	t.Parallel()
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	idx := func(iso, code string) pair {
		t.Helper()
		ci, ok1 := c.country(iso)
		si, ok2 := c.service(code)
		if !ok1 || !ok2 {
			t.Fatalf("%s/%s not in the catalog", iso, code)
		}
		return pair{ci, si}
	}
	tests := []struct {
		name       string
		iso, code  string
		cents      int64
		stock      int64
		checkCents bool
	}{
		{"popular wa TR", "TR", "wa", 50, 10000, true},
		{"popular tg US", "us", "TG", 50, 10000, true},
		{"popular wa ID", "ID", "wa", 50, 10000, true},
		{"no stock tg NU", "NU", "tg", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cents, stock := c.base(idx(tc.iso, tc.code))
			if stock != tc.stock || (tc.checkCents && cents != tc.cents) {
				t.Errorf("got %d cents, stock %d; want %d, %d", cents, stock, tc.cents, tc.stock)
			}
		})
	}
	// The same pair always has the same offer, and every offer is in range.
	for ci := range c.countries {
		for si := range c.services {
			p := pair{ci, si}
			cents, stock := c.base(p)
			if cents < minCents || cents > maxCents || stock < 0 || stock > popularStock || (stock == 0 && p != c.noStock) {
				t.Fatalf("offer %s/%s: %d cents, stock %d", c.countries[ci].ISO, c.services[si].Code, cents, stock)
			}
			if c2, s2 := c.base(p); c2 != cents || s2 != stock {
				t.Fatalf("offer %v is not deterministic", p)
			}
		}
	}
}

func TestFormatCents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   int64
		want string
	}{{10, "0.10"}, {50, "0.50"}, {105, "1.05"}, {250, "2.50"}, {0, "0.00"}}
	for _, tc := range tests {
		if got := formatCents(tc.in); got != tc.want {
			t.Errorf("formatCents(%d) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestTitleSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{{"niue", "Niue"}, {"south-africa", "South Africa"}, {"", ""}}
	for _, tc := range tests {
		if got := titleSlug(tc.in); got != tc.want {
			t.Errorf("titleSlug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 99, 123456} {
		got, ok := parseCursor(formatCursor(n))
		if !ok || got != n {
			t.Errorf("cursor %d came back as %d %v", n, got, ok)
		}
	}
	for _, bad := range []string{"", "!!", "cA", "eA", "cC0x"} {
		if _, ok := parseCursor(bad); ok {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

// TestDataCopies checks that the embedded tables are byte-for-byte copies
// of the project's tables they were copied from, so that the sandbox sells
// what the shim knows.
func TestDataCopies(t *testing.T) {
	t.Parallel()
	tests := []struct{ copy, original string }{
		{"data/countries.csv", "../../countries/countries.csv"},
		{"data/services.csv", "../../translate/services.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.copy, func(t *testing.T) {
			t.Parallel()
			got, err := data.ReadFile(tc.copy)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.FromSlash(tc.original))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s; copy it again: cp %s upstream/sandbox/%s", tc.copy, tc.original,
					strings.TrimPrefix(tc.original, "../../"), tc.copy)
			}
		})
	}
}
