package countries

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
)

const (
	// DefaultCacheSize is the number of inputs a Resolver caches when
	// NewResolver is given a size <= 0.
	DefaultCacheSize = 4096
	// MaxInputLen is the longest input, in bytes, that Resolve considers.
	MaxInputLen = 64
)

// Resolver turns the legacy "country" parameter into a row of a Table. It is
// safe for concurrent use. Its cache holds at most its size of entries of at
// most MaxInputLen bytes each, whatever the input.
type Resolver struct {
	table  *Table
	cache  *lru.Cache[string, int32] // raw input -> row index, -1 for none
	hits   atomic.Uint64
	misses atomic.Uint64
}

// NewResolver returns a Resolver over t that caches up to cacheSize raw inputs
// (resolved or not); cacheSize <= 0 means DefaultCacheSize. t must not be nil.
func NewResolver(t *Table, cacheSize int) (*Resolver, error) {
	if t == nil {
		return nil, errors.New("creating country resolver: nil table")
	}
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	c, err := lru.New[string, int32](cacheSize)
	if err != nil {
		return nil, fmt.Errorf("creating country resolver cache: %w", err)
	}
	return &Resolver{table: t, cache: c}, nil
}

// Table returns the table the Resolver reads.
func (r *Resolver) Table() *Table { return r.table }

// Resolve returns the row that input names, trying in turn:
//
//  1. An integer ID in canonical decimal ("0", "62", "187"; not "062", "+1",
//     "-1"): that very row, so "187" is the USA and "12" the USA (virtual).
//     An input of digits only is never read as a name.
//  2. An ISO alpha-2 code in any case, read after the separators of step 3
//     are dropped: the code's primary row ("TR" gives 62, "us" gives 12).
//  3. A slug, alias or English name in any case, with every character other
//     than a letter or digit read as a separator and runs of them as one:
//     "South Africa", "south_africa" and "south-africa" all give 31; "usa"
//     and "united states" give 187.
//
// The input is folded first (Fold: NFKC, format characters dropped) and
// surrounding spaces trimmed. An input longer than MaxInputLen
// bytes, or with invalid UTF-8, U+FFFD or a control character (tabs and
// newlines included), resolves to nothing at once and is not cached. Every
// other input is cached under its raw bytes, resolved or not.
func (r *Resolver) Resolve(input string) (Country, bool) {
	if len(input) > MaxInputLen {
		r.misses.Add(1)
		return Country{}, false
	}
	if i, ok := r.cache.Get(input); ok {
		r.hits.Add(1)
		return r.table.at(i)
	}
	r.misses.Add(1)
	if !clean(input) {
		return Country{}, false
	}
	i := int32(r.table.lookup(strings.TrimSpace(Fold(input))))
	// Clone: input may point into a much larger buffer, such as a raw query.
	r.cache.Add(strings.Clone(input), i)
	return r.table.at(i)
}

// Stats returns how many Resolve calls were answered from the cache (hits)
// and how many were not (misses, refused inputs included). Both only grow;
// they are meant for metrics counters.
func (r *Resolver) Stats() (hits, misses uint64) {
	return r.hits.Load(), r.misses.Load()
}

// CacheLen returns the number of inputs in the cache, at most its size.
func (r *Resolver) CacheLen() int { return r.cache.Len() }

// clean reports whether s is valid UTF-8 without control characters.
func clean(s string) bool {
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// at returns the row at index i, or false for -1.
func (t *Table) at(i int32) (Country, bool) {
	if i < 0 {
		return Country{}, false
	}
	return t.rows[i], true
}
