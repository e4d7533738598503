package countries

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadString loads a table from s or fails the test.
func loadString(tb testing.TB, s string) *Table {
	tb.Helper()
	t, err := Load(strings.NewReader(s))
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return t
}

const header = "id,iso,eng,rus,chn,slug,aliases\n"

func TestBuiltin(t *testing.T) {
	// The embedded data loads without error, so Builtin cannot panic.
	if _, err := Load(bytes.NewReader(builtinCSV)); err != nil {
		t.Fatalf("embedded table: %v", err)
	}
	tab := Builtin()
	if got := tab.Len(); got != 203 {
		t.Errorf("Len() = %d, want 203", got)
	}
	all := tab.All()
	if len(all) != 203 {
		t.Fatalf("len(All()) = %d, want 203", len(all))
	}
	if !slices.IsSortedFunc(all, func(a, b Country) int { return a.ID - b.ID }) {
		t.Error("All() is not sorted by ID")
	}
	tests := []struct {
		id       int
		iso, eng string
		slug     string
	}{
		{0, "RU", "Russia", "russia"},
		{12, "US", "USA (virtual)", "usa-virtual"},
		{62, "TR", "Turkey", "turkey"},
		{187, "US", "USA", "united-states"},
		{201, "GI", "", "gibraltar"},
		{204, "NU", "", "niue"},
	}
	for _, tc := range tests {
		c, ok := tab.ByID(tc.id)
		if !ok {
			t.Errorf("ByID(%d) not found", tc.id)
			continue
		}
		if c.ISO != tc.iso || c.Eng != tc.eng || c.Slug != tc.slug {
			t.Errorf("ByID(%d) = %q %q %q, want %q %q %q", tc.id, c.ISO, c.Eng, c.Slug, tc.iso, tc.eng, tc.slug)
		}
		if !c.Visible || !c.Retry || c.Rent || c.MultiService {
			t.Errorf("ByID(%d) flags = %v %v %v %v, want defaults true true false false",
				tc.id, c.Visible, c.Retry, c.Rent, c.MultiService)
		}
	}
	for _, id := range []int{-1, 200, 202, 205} {
		if c, ok := tab.ByID(id); ok {
			t.Errorf("ByID(%d) = %d, want none", id, c.ID)
		}
	}
	if c, _ := tab.ByID(203); c.Eng != "" || c.Rus != "" || c.Chn != "科索沃" {
		t.Errorf("ByID(203) names = %q %q %q, want empty eng and rus kept", c.Eng, c.Rus, c.Chn)
	}
}

func TestAllIsACopy(t *testing.T) {
	tab := Builtin()
	all := tab.All()
	all[0].ID = 999
	all[0].Slug = "changed"
	if c, _ := tab.ByID(0); c.Slug != "russia" {
		t.Errorf("after changing All()'s result, ByID(0).Slug = %q", c.Slug)
	}
	if tab.All()[0].ID != 0 {
		t.Error("after changing All()'s result, All()[0].ID changed")
	}
}

func TestPrimaryByISO(t *testing.T) {
	tab := Builtin()
	tests := []struct {
		iso  string
		want int
		ok   bool
	}{
		{"US", 12, true},
		{"us", 12, true},
		{"TR", 62, true},
		{"tr", 62, true},
		{"RU", 0, true},
		{"GB", 16, true},
		{"XK", 203, true},
		{"ZZ", 0, false},
		{"", 0, false},
		{"USA", 0, false},
		{"U", 0, false},
		{"1A", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.iso, func(t *testing.T) {
			c, ok := tab.PrimaryByISO(tc.iso)
			if ok != tc.ok || (ok && c.ID != tc.want) {
				t.Errorf("PrimaryByISO(%q) = %d, %v; want %d, %v", tc.iso, c.ID, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLoadOptionalColumns(t *testing.T) {
	tab := loadString(t, "\uFEFFID,ISO,Eng,Rus,Chn,Slug,Aliases,Visible,Retry,Rent,MultiService,Primary\n"+
		"12,us,USA (virtual),,,usa-virtual,,0,0,1,1,\n"+
		"187,US,USA,,,united-states,usa|us,,,,,1\n"+
		"62,TR,Turkey,,,turkey,,1,1,0,0,0\n")
	if c, _ := tab.PrimaryByISO("US"); c.ID != 187 {
		t.Errorf("PrimaryByISO(US) = %d, want 187 (marked primary)", c.ID)
	}
	tests := []struct {
		id                                 int
		iso                                string
		visible, retry, rent, multiService bool
	}{
		{12, "US", false, false, true, true},
		{62, "TR", true, true, false, false},
		{187, "US", true, true, false, false},
	}
	for _, tc := range tests {
		c, ok := tab.ByID(tc.id)
		if !ok {
			t.Fatalf("ByID(%d) not found", tc.id)
		}
		if c.ISO != tc.iso || c.Visible != tc.visible || c.Retry != tc.retry || c.Rent != tc.rent || c.MultiService != tc.multiService {
			t.Errorf("ByID(%d) = %+v, want iso %s flags %v %v %v %v", tc.id, c, tc.iso, tc.visible, tc.retry, tc.rent, tc.multiService)
		}
	}
	if got := []int{tab.All()[0].ID, tab.All()[1].ID, tab.All()[2].ID}; !slices.Equal(got, []int{12, 62, 187}) {
		t.Errorf("All() IDs = %v, want sorted [12 62 187]", got)
	}
}

func TestLoadErrors(t *testing.T) {
	const us = "12,US,USA (virtual),,,usa-virtual,\n"
	tests := []struct {
		name   string
		in     string
		want   error
		line   int
		column string
	}{
		{"empty file", "", ErrHeader, 1, ""},
		{"header only", header, ErrNoRows, 0, ""},
		{"missing column", "id,iso,eng,rus,chn,slug\n1,UA,,,,ukraine\n", ErrHeader, 1, ""},
		{"unknown column", strings.TrimSuffix(header, "\n") + ",colour\n", ErrHeader, 1, ""},
		{"repeated column", strings.TrimSuffix(header, "\n") + ",ISO\n", ErrHeader, 1, ""},
		{"duplicate id", header + us + "62,TR,Turkey,,,turkey,\n12,UA,,,,ukraine,\n", ErrDuplicateID, 4, "id"},
		{"negative id", header + "-1,UA,,,,ukraine,\n", ErrBadID, 2, "id"},
		{"leading zero id", header + "062,TR,,,,turkey,\n", ErrBadID, 2, "id"},
		{"empty id", header + ",TR,,,,turkey,\n", ErrBadID, 2, "id"},
		{"iso three letters", header + "62,TUR,,,,turkey,\n", ErrBadISO, 2, "iso"},
		{"iso digits", header + "62,T1,,,,turkey,\n", ErrBadISO, 2, "iso"},
		{"iso empty", header + "62,,,,,turkey,\n", ErrBadISO, 2, "iso"},
		{"bad utf8 name", header + "62,TR,Tur\xffkey,,,turkey,\n", ErrBadText, 2, "eng"},
		{"slug upper case", header + "62,TR,,,,Turkey,\n", ErrBadSlug, 2, "slug"},
		{"slug with space", header + "62,TR,,,,tur key,\n", ErrBadSlug, 2, "slug"},
		{"slug digits only", header + "62,TR,,,,62,\n", ErrBadSlug, 2, "slug"},
		{"slug double hyphen", header + "31,ZA,,,,south--africa,\n", ErrBadSlug, 2, "slug"},
		{"slug empty", header + "62,TR,,,,,\n", ErrBadSlug, 2, "slug"},
		{"slug too long", header + "62,TR,,,," + strings.Repeat("a", MaxInputLen+1) + ",\n", ErrBadSlug, 2, "slug"},
		{"empty alias", header + "62,TR,,,,turkey,turkiye||tr-x\n", ErrBadSlug, 2, "aliases"},
		{"alias repeats slug", header + "62,TR,,,,turkey,turkey\n", ErrBadSlug, 2, "aliases"},
		{"bad flag", "id,iso,eng,rus,chn,slug,aliases,rent\n62,TR,,,,turkey,,yes\n", ErrBadFlag, 2, "rent"},
		{"slug collision", header + us + "62,TR,Turkey,,,turkey,\n63,CZ,,,,turkey,\n", ErrCollision, 4, "slug"},
		{"alias collision", header + us + "62,TR,Turkey,,,turkey,\n187,US,USA,,,united-states,usa-virtual\n", ErrCollision, 4, "aliases"},
		{"alias collides with english name", header + "62,TR,Turkey,,,turkiye,\n63,CZ,,,,czechia,turkey\n", ErrCollision, 3, "aliases"},
		{"english name collision", header + "62,TR,Turkey,,,turkey,\n63,CZ,TURKEY,,,czechia,\n", ErrCollision, 3, "eng"},
		{"collision across separators", header + "31,ZA,,,,south-africa,\n32,RO,South_Africa,,,romania,\n", ErrCollision, 3, "eng"},
		{"alias is another iso", header + "62,TR,Turkey,,,turkey,\n16,GB,,,,united-kingdom,tr\n", ErrCollision, 3, "aliases"},
		{"two primaries", "id,iso,eng,rus,chn,slug,aliases,primary\n12,US,,,,usa-virtual,,1\n187,US,,,,united-states,,1\n", ErrPrimary, 3, "primary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Load(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("Load succeeded with %d rows, want %v", tab.Len(), tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load error = %v, want %v", err, tc.want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load error = %T %v, want *LoadError", err, err)
			}
			if le.Line != tc.line || le.Column != tc.column {
				t.Errorf("LoadError at line %d column %q, want line %d column %q (%v)", le.Line, le.Column, tc.line, tc.column, err)
			}
		})
	}
}

func TestLoadCSVSyntaxError(t *testing.T) {
	_, err := Load(strings.NewReader(header + "62,TR,Turkey,,,turkey\n"))
	var pe *csv.ParseError
	if !errors.As(err, &pe) || !errors.Is(err, csv.ErrFieldCount) {
		t.Fatalf("Load error = %v, want a *csv.ParseError with ErrFieldCount", err)
	}
	if pe.Line != 2 {
		t.Errorf("ParseError.Line = %d, want 2", pe.Line)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte(header+"62,TR,Turkey,Турция,土耳其,turkey,turkiye\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tab, err := LoadFile(good)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if c, ok := tab.ByID(62); !ok || c.Rus != "Турция" || !slices.Equal(c.Aliases, []string{"turkiye"}) {
		t.Errorf("ByID(62) = %+v, %v", c, ok)
	}

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(header+"62,TR,Turkey,,,turkey,\n62,TR,,,,turkiye,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("LoadFile(bad) error = %v, want ErrDuplicateID", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestByISO(t *testing.T) {
	t.Parallel()
	tab := Builtin()
	ids := func(iso string) []int {
		var out []int
		for _, c := range tab.ByISO(iso) {
			out = append(out, c.ID)
		}
		return out
	}
	for _, tc := range []struct {
		iso  string
		want []int
	}{
		{"US", []int{12, 187}},
		{"us", []int{12, 187}},
		{"TR", []int{62}},
		{"RU", []int{0}},
		{"XX", nil},
		{"USA", nil},
	} {
		if got := ids(tc.iso); !slices.Equal(got, tc.want) {
			t.Errorf("ByISO(%q) = %v, want %v", tc.iso, got, tc.want)
		}
	}
}
