package sandbox

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// data holds the catalog tables: countries.csv and services.csv are copies of
// the project's reference tables, calling_codes.csv maps each ISO code to its
// international calling code.
//
//go:embed data/countries.csv data/services.csv data/calling_codes.csv
var data embed.FS

// Fixed offers, documented in doc.go.
const (
	popularCents = 50
	popularStock = 10000
	minCents     = 10  // 0.10
	maxCents     = 250 // 2.50
	maxBaseStock = 5000
)

var (
	popularCountries = []string{"RU", "US", "TR", "GB", "ID"}
	popularServices  = []string{"wa", "tg"}
)

// pair names one offer by catalog indexes.
type pair struct{ country, service int }

// catalog is the immutable part of what the sandbox sells.
type catalog struct {
	countries    []upstream.Country // sorted by ISO
	callingCodes []string           // by country index
	countryIdx   map[string]int     // upper-case ISO -> index
	services     []upstream.Service // in code order
	serviceIdx   map[string]int     // lower-case code -> index
	noStock      pair               // the pair with stock 0 (tg in NU)
}

// loadCatalog parses the embedded tables.
func loadCatalog() (*catalog, error) {
	c := &catalog{countryIdx: map[string]int{}, serviceIdx: map[string]int{}}
	codes, err := readCSV("data/calling_codes.csv", []string{"iso", "code"})
	if err != nil {
		return nil, err
	}
	calling := map[string]string{}
	for _, row := range codes {
		calling[row[0]] = row[1]
	}
	rows, err := readCSV("data/countries.csv", []string{"id", "iso", "eng", "rus", "chn", "slug", "aliases"})
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, row := range rows {
		iso, name, slug := strings.ToUpper(row[1]), row[2], row[5]
		if iso == "" {
			continue
		}
		if len(iso) != 2 || !isAlpha(iso) {
			return nil, fmt.Errorf("reading countries.csv: bad iso code %q", iso)
		}
		if name == "" {
			name = titleSlug(slug)
		}
		if name == "" {
			name = iso
		}
		names[iso] = name // a later row for the same ISO code wins
	}
	for iso, name := range names {
		c.countries = append(c.countries, upstream.Country{ISO: iso, Name: name})
	}
	slices.SortFunc(c.countries, func(a, b upstream.Country) int { return strings.Compare(a.ISO, b.ISO) })
	for i, co := range c.countries {
		cc, ok := calling[co.ISO]
		if !ok {
			return nil, fmt.Errorf("reading calling_codes.csv: no calling code for %s", co.ISO)
		}
		c.countryIdx[co.ISO] = i
		c.callingCodes = append(c.callingCodes, cc)
	}
	rows, err = readCSV("data/services.csv", []string{"code", "name", "aliases"})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, row := range rows {
		code := strings.ToLower(row[0])
		if !validServiceCode(code) {
			return nil, fmt.Errorf("reading services.csv: bad service code %q", code)
		}
		if seen[code] {
			continue
		}
		seen[code] = true
		c.services = append(c.services, upstream.Service{Code: code, Name: row[1]})
	}
	slices.SortFunc(c.services, func(a, b upstream.Service) int { return strings.Compare(a.Code, b.Code) })
	for i, s := range c.services {
		c.serviceIdx[s.Code] = i
	}
	nu, okC := c.countryIdx["NU"]
	tg, okS := c.serviceIdx["tg"]
	if !okC || !okS {
		return nil, fmt.Errorf("loading catalog: NU or tg missing")
	}
	c.noStock = pair{nu, tg}
	for _, iso := range popularCountries {
		if _, ok := c.countryIdx[iso]; !ok {
			return nil, fmt.Errorf("loading catalog: country %s missing", iso)
		}
	}
	for _, code := range popularServices {
		if _, ok := c.serviceIdx[code]; !ok {
			return nil, fmt.Errorf("loading catalog: service %s missing", code)
		}
	}
	return c, nil
}

// readCSV reads an embedded CSV file, checks its header and returns the rows
// after it.
func readCSV(name string, header []string) ([][]string, error) {
	b, err := data.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = len(header)
	got, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if !slices.Equal(got, header) {
		return nil, fmt.Errorf("reading %s: header %q, want %q", name, got, header)
	}
	var rows [][]string
	for {
		row, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		rows = append(rows, row)
	}
}

// titleSlug turns "south-africa" into "South Africa".
func titleSlug(slug string) string {
	words := strings.FieldsFunc(slug, func(r rune) bool { return r == '-' || r == ' ' })
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// validServiceCode reports whether s matches the contract's ServiceCode
// pattern ^[A-Za-z0-9_-]{1,32}$.
func validServiceCode(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// country returns the index of an ISO code, in any case.
func (c *catalog) country(iso string) (int, bool) {
	i, ok := c.countryIdx[strings.ToUpper(iso)]
	return i, ok
}

// service returns the index of a service code, in any case.
func (c *catalog) service(code string) (int, bool) {
	i, ok := c.serviceIdx[strings.ToLower(code)]
	return i, ok
}

// base returns the price in cents and the starting stock of an offer.
func (c *catalog) base(p pair) (cents, stock int64) {
	if p == c.noStock {
		return c.hashCents(p), 0
	}
	iso, code := c.countries[p.country].ISO, c.services[p.service].Code
	if slices.Contains(popularCountries, iso) && slices.Contains(popularServices, code) {
		return popularCents, popularStock
	}
	h := c.hash(p)
	return c.hashCents(p), 1 + int64((h>>20)%maxBaseStock)
}

func (c *catalog) hashCents(p pair) int64 {
	return minCents + int64(c.hash(p)%(maxCents-minCents+1))
}

func (c *catalog) hash(p pair) uint64 {
	return fnv64a(c.countries[p.country].ISO, "/", c.services[p.service].Code)
}

// fnv64a is the 64-bit FNV-1a hash of the concatenated parts.
func fnv64a(parts ...string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return h
}

// formatCents writes cents as a decimal string with two places: 50 -> "0.50".
func formatCents(cents int64) string {
	return string(appendCents(nil, cents))
}

func appendCents(b []byte, cents int64) []byte {
	b = strconv.AppendInt(b, cents/100, 10)
	return append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
}

// appendOffer appends the JSON of one offer. Codes are plain ASCII checked
// at load, so they need no escaping.
func appendOffer(b []byte, iso, code string, cents, stock int64) []byte {
	b = append(b, `{"countryIso":"`...)
	b = append(b, iso...)
	b = append(b, `","serviceCode":"`...)
	b = append(b, code...)
	b = append(b, `","price":"`...)
	b = appendCents(b, cents)
	b = append(b, `","stock":`...)
	b = strconv.AppendInt(b, stock, 10)
	return append(b, '}')
}
