package countries

import (
	"errors"
	"fmt"
)

// Errors a table file can have. Load wraps each in a *LoadError that names
// the line; test for them with errors.Is.
var (
	// ErrHeader is a missing, unknown or repeated header column.
	ErrHeader = errors.New("bad header")
	// ErrNoRows is a table with a header and no countries.
	ErrNoRows = errors.New("no countries")
	// ErrBadID is an id that is not a canonical non-negative decimal integer.
	ErrBadID = errors.New("bad id")
	// ErrDuplicateID is an id that an earlier line already has.
	ErrDuplicateID = errors.New("duplicate id")
	// ErrBadISO is an iso cell that is not two ASCII letters.
	ErrBadISO = errors.New("bad iso code")
	// ErrBadText is a name cell that is not valid UTF-8.
	ErrBadText = errors.New("bad text")
	// ErrBadSlug is a slug or alias that is not lower-case ASCII letters and
	// digits in hyphen-separated words with at least one letter, is longer
	// than MaxInputLen, or repeats another name of the same row.
	ErrBadSlug = errors.New("bad slug")
	// ErrBadFlag is a visible, retry, rent, multiService or primary cell that
	// is not "0", "1" or empty.
	ErrBadFlag = errors.New("bad flag")
	// ErrCollision is a slug, alias or English name that already names
	// another country, or a two-letter name that is another country's ISO code.
	ErrCollision = errors.New("name collision")
	// ErrPrimary is an ISO code with more than one row marked primary.
	ErrPrimary = errors.New("more than one primary row")
)

// LoadError is a problem in a country table, with where it is.
type LoadError struct {
	// Line is the 1-based line of the file (the header is line 1); 0 when
	// the problem belongs to no line.
	Line int
	// Column is the header name of the bad cell; "" when the problem is the
	// whole line or the whole table.
	Column string
	// Err is one of the Err* values of this package, wrapped with detail.
	Err error
}

func (e *LoadError) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("country table: %v", e.Err)
	case e.Column == "":
		return fmt.Sprintf("country table line %d: %v", e.Line, e.Err)
	default:
		return fmt.Sprintf("country table line %d, column %s: %v", e.Line, e.Column, e.Err)
	}
}

func (e *LoadError) Unwrap() error { return e.Err }
