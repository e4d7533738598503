package countries

import (
	"bufio"
	"bytes"
	"cmp"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

//go:embed countries.csv
var builtinCSV []byte

// Table is a loaded country table. It never changes after Load, so one Table
// may be shared by any number of goroutines. The Aliases of the Country
// values it hands out share the table's memory: callers must not modify them.
type Table struct {
	rows    []Country         // sorted by ID
	byID    map[int]int       // ID -> index in rows
	primary map[[2]byte]int   // upper-case ISO -> index in rows of its primary row
	byISO   map[[2]byte][]int // upper-case ISO -> indexes in rows of every row with it, by ID
	names   map[string]int    // name key (see appendKey) -> index in rows
}

// Builtin returns the embedded table, copied from SMS-Activate's numbering
// (203 rows). It parses the data on each call, so call it once and share the
// result. It panics only if the embedded data is broken, which the package's
// tests rule out.
func Builtin() *Table {
	t, err := Load(bytes.NewReader(builtinCSV))
	if err != nil {
		panic("countries: built-in table is broken: " + err.Error())
	}
	return t
}

// LoadFile loads a table from the CSV file at path (SHIM_COUNTRIES_FILE); see
// Load for the format.
func LoadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening country table: %w", err)
	}
	defer f.Close()
	t, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("loading country table %s: %w", path, err)
	}
	return t, nil
}

// Columns of a table file. The required ones come first; header names match
// in any case and any order.
var (
	requiredColumns = []string{"id", "iso", "eng", "rus", "chn", "slug", "aliases"}
	optionalColumns = []string{"visible", "retry", "rent", "multiservice", "primary"}
)

// Load reads a table in CSV (RFC 4180, UTF-8, an optional byte order mark).
// The header must name the columns id, iso, eng, rus, chn, slug and aliases,
// and may add visible, retry, rent, multiService and primary; names match in
// any case and any order, and no other column is allowed.
//
//   - id: canonical decimal integer >= 0 ("0", "62"; not "062"), unique.
//   - iso: two ASCII letters, stored in upper case; several rows may share one.
//   - eng, rus, chn: names as the original getCountries sent them, kept as
//     given (may be empty). A non-empty English name also resolves.
//   - slug: lower-case ASCII words joined by single hyphens ("south-africa").
//   - aliases: more slugs, separated by "|"; may be empty.
//   - visible, retry, rent, multiService: "0" or "1"; empty or a missing
//     column means Visible and Retry true, Rent and MultiService false.
//   - primary: "1" marks the row that answers for its ISO code; at most one
//     per code. Without one the lowest ID with that code is the primary.
//
// Load is strict: every problem is a *LoadError naming the line and wrapping
// one of the Err* values; a slug, alias or English name that names two
// different countries is ErrCollision, as is a two-letter name equal to
// another country's ISO code (the ISO code would always win). Syntax errors
// of the CSV itself are *csv.ParseError, which carries the line.
func Load(r io.Reader) (*Table, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &LoadError{Line: 1, Err: fmt.Errorf("%w: empty file", ErrHeader)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading country table header: %w", err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, &LoadError{Line: 1, Err: err}
	}

	var rows []loadedRow
	lineOf := make(map[int]int) // ID -> line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading country table: %w", err)
		}
		line, _ := cr.FieldPos(0)
		row, err := cols.parse(rec, line)
		if err != nil {
			return nil, err
		}
		if prev, dup := lineOf[row.ID]; dup {
			return nil, &LoadError{Line: line, Column: "id",
				Err: fmt.Errorf("%w: %d is already on line %d", ErrDuplicateID, row.ID, prev)}
		}
		lineOf[row.ID] = line
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, &LoadError{Err: ErrNoRows}
	}
	return build(rows)
}

// loadedRow is a parsed line before the indexes are built.
type loadedRow struct {
	Country
	line    int
	primary bool
}

// columns maps each known column to its index in a record; -1 when absent.
type columns map[string]int

func parseHeader(header []string) (columns, error) {
	cols := make(columns)
	for _, name := range slices.Concat(requiredColumns, optionalColumns) {
		cols[name] = -1
	}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		at, known := cols[name]
		switch {
		case !known:
			return nil, fmt.Errorf("%w: unknown column %q", ErrHeader, h)
		case at >= 0:
			return nil, fmt.Errorf("%w: column %q appears twice", ErrHeader, h)
		}
		cols[name] = i
	}
	for _, name := range requiredColumns {
		if cols[name] < 0 {
			return nil, fmt.Errorf("%w: missing column %q (want %s)", ErrHeader, name, strings.Join(requiredColumns, ","))
		}
	}
	return cols, nil
}

func (cols columns) parse(rec []string, line int) (loadedRow, error) {
	bad := func(col string, err error) (loadedRow, error) {
		return loadedRow{}, &LoadError{Line: line, Column: col, Err: err}
	}
	row := loadedRow{line: line}
	c := &row.Country

	id, ok := parseID(rec[cols["id"]])
	if !ok {
		return bad("id", fmt.Errorf("%w: %q", ErrBadID, rec[cols["id"]]))
	}
	c.ID = id

	iso := rec[cols["iso"]]
	k, ok := isoKey(iso)
	if !ok {
		return bad("iso", fmt.Errorf("%w: %q", ErrBadISO, iso))
	}
	c.ISO = string(k[:])

	for _, f := range []struct {
		col string
		dst *string
	}{{"eng", &c.Eng}, {"rus", &c.Rus}, {"chn", &c.Chn}} {
		s := rec[cols[f.col]]
		if !utf8.ValidString(s) {
			return bad(f.col, fmt.Errorf("%w: invalid UTF-8", ErrBadText))
		}
		*f.dst = s
	}

	c.Slug = rec[cols["slug"]]
	if !validSlug(c.Slug) {
		return bad("slug", fmt.Errorf("%w: %q", ErrBadSlug, c.Slug))
	}
	if a := rec[cols["aliases"]]; a != "" {
		c.Aliases = strings.Split(a, "|")
	}
	for i, a := range c.Aliases {
		if !validSlug(a) {
			return bad("aliases", fmt.Errorf("%w: %q", ErrBadSlug, a))
		}
		if a == c.Slug || slices.Contains(c.Aliases[:i], a) {
			return bad("aliases", fmt.Errorf("%w: %q repeats a name of the same row", ErrBadSlug, a))
		}
	}

	for _, f := range []struct {
		col string
		dst *bool
		def bool
	}{
		{"visible", &c.Visible, true},
		{"retry", &c.Retry, true},
		{"rent", &c.Rent, false},
		{"multiservice", &c.MultiService, false},
		{"primary", &row.primary, false},
	} {
		*f.dst = f.def
		at := cols[f.col]
		if at < 0 {
			continue
		}
		switch rec[at] {
		case "":
		case "0":
			*f.dst = false
		case "1":
			*f.dst = true
		default:
			return bad(f.col, fmt.Errorf("%w: %q", ErrBadFlag, rec[at]))
		}
	}
	return row, nil
}

// build checks names and primaries across rows (in file order, so that an
// error names the later line) and builds the indexes.
func build(rows []loadedRow) (*Table, error) {
	type owner struct{ id, line int }
	names := make(map[string]owner)
	isoOwner := make(map[[2]byte]loadedRow)
	var key []byte
	for i := range rows {
		r := &rows[i]
		for _, n := range r.names() {
			key = appendKey(key[:0], n.name)
			if !hasLetter(key) {
				continue // an English name of digits and signs only
			}
			if o, taken := names[string(key)]; taken && o.id != r.ID {
				return nil, &LoadError{Line: r.line, Column: n.col,
					Err: fmt.Errorf("%w: %q already names country %d (line %d)", ErrCollision, n.name, o.id, o.line)}
			}
			names[string(key)] = owner{r.ID, r.line}
		}
		k, _ := isoKey(r.ISO)
		prev, seen := isoOwner[k]
		switch {
		case r.primary && seen && prev.primary:
			return nil, &LoadError{Line: r.line, Column: "primary",
				Err: fmt.Errorf("%w: %s is already primary on line %d", ErrPrimary, r.ISO, prev.line)}
		case !seen, r.primary, !prev.primary && r.ID < prev.ID:
			isoOwner[k] = *r
		}
	}
	// A two-letter name that is an ISO code of the table is reachable only
	// as that ISO code; allow it only on a row of the same code.
	for _, r := range rows {
		for _, n := range r.names() {
			key = appendKey(key[:0], n.name)
			k, ok := isoKey(key)
			if !ok {
				continue
			}
			if p, taken := isoOwner[k]; taken && p.ISO != r.ISO {
				return nil, &LoadError{Line: r.line, Column: n.col,
					Err: fmt.Errorf("%w: %q is the ISO code of country %d (line %d)", ErrCollision, n.name, p.ID, p.line)}
			}
		}
	}

	slices.SortFunc(rows, func(a, b loadedRow) int { return cmp.Compare(a.ID, b.ID) })
	t := &Table{
		rows:    make([]Country, len(rows)),
		byID:    make(map[int]int, len(rows)),
		primary: make(map[[2]byte]int, len(isoOwner)),
		byISO:   make(map[[2]byte][]int, len(isoOwner)),
		names:   make(map[string]int, len(names)),
	}
	for i, r := range rows {
		t.rows[i] = r.Country
		t.byID[r.ID] = i
		if k, ok := isoKey(r.ISO); ok {
			t.byISO[k] = append(t.byISO[k], i)
		}
	}
	for k, r := range isoOwner {
		t.primary[k] = t.byID[r.ID]
	}
	for k, o := range names {
		t.names[k] = t.byID[o.id]
	}
	return t, nil
}

// namedBy is one name of a row and the column it came from.
type namedBy struct{ col, name string }

// names lists the names under which the row resolves.
func (r *loadedRow) names() []namedBy {
	n := make([]namedBy, 0, len(r.Aliases)+2)
	n = append(n, namedBy{"slug", r.Slug})
	for _, a := range r.Aliases {
		n = append(n, namedBy{"aliases", a})
	}
	return append(n, namedBy{"eng", r.Eng})
}

// Len returns the number of rows.
func (t *Table) Len() int { return len(t.rows) }

// All returns every row sorted by ID. The slice is a fresh copy that the
// caller may keep and reorder; the Aliases inside it are shared and must not
// be modified.
func (t *Table) All() []Country { return slices.Clone(t.rows) }

// ByID returns the row with the given ID.
func (t *Table) ByID(id int) (Country, bool) {
	i, ok := t.byID[id]
	if !ok {
		return Country{}, false
	}
	return t.rows[i], true
}

// PrimaryByISO returns the row that answers for an ISO alpha-2 code given in
// any case: the row marked primary, else the lowest ID with that code ("US"
// gives 12, not 187). Use it for answers that start from the native side.
func (t *Table) PrimaryByISO(iso string) (Country, bool) {
	k, ok := isoKey(iso)
	if !ok {
		return Country{}, false
	}
	i, ok := t.primary[k]
	if !ok {
		return Country{}, false
	}
	return t.rows[i], true
}

// ByISO returns every row with an ISO alpha-2 code given in any case, in ID
// order ("US" gives 12 and 187), so that an answer that starts from the
// native side lists a country under each ID a client may look it up by.
func (t *Table) ByISO(iso string) []Country {
	k, ok := isoKey(iso)
	if !ok {
		return nil
	}
	idx := t.byISO[k]
	out := make([]Country, len(idx))
	for i, j := range idx {
		out[i] = t.rows[j]
	}
	return out
}

// lookup finds the row index for a trimmed, valid input, or -1: a canonical
// decimal ID, then an ISO code, then a name key. An input of digits only is
// an ID or nothing.
func (t *Table) lookup(s string) int {
	if allDigits(s) {
		id, ok := parseID(s)
		if !ok {
			return -1
		}
		if i, ok := t.byID[id]; ok {
			return i
		}
		return -1
	}
	var buf [2 * MaxInputLen]byte
	key := appendKey(buf[:0], s)
	if k, ok := isoKey(key); ok {
		if i, ok := t.primary[k]; ok {
			return i
		}
	}
	if i, ok := t.names[string(key)]; ok {
		return i
	}
	return -1
}
