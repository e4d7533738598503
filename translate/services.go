package translate

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/smsbulk/smsbulk-shim/countries"
)

//go:embed services.csv
var servicesCSV string

// Services maps what bots send as a service to a service code. Codes are
// short ("wa", "tg"); common full names and spellings map to them
// ("whatsapp" -> "wa", "telegram" -> "tg"). Whether the native catalog
// sells a code is the caller's question: Services only normalises.
type Services struct {
	alias map[string]string
}

// NewServices reads the service table: CSV with the header
// code,name,aliases (aliases separated by "|"). A code always means itself,
// even where another service's alias spells it.
func NewServices(r io.Reader) (*Services, error) {
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading service table header: %w", err)
	}
	if strings.Join(head, ",") != "code,name,aliases" {
		return nil, fmt.Errorf("service table header is %q, want code,name,aliases", strings.Join(head, ","))
	}
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading service table: %w", err)
	}
	s := &Services{alias: make(map[string]string, len(recs)*3)}
	codes := make(map[string]bool, len(recs))
	for _, rec := range recs {
		code := rec[0]
		if !isToken(code) || len(code) > maxServiceLen {
			return nil, fmt.Errorf("service table: bad code %q", code)
		}
		codes[code] = true
	}
	for _, rec := range recs {
		code := rec[0]
		names := append([]string{rec[1]}, strings.Split(rec[2], "|")...)
		for _, n := range names {
			n = foldName(n)
			if n == "" || codes[n] {
				continue
			}
			if _, dup := s.alias[n]; !dup {
				s.alias[n] = code
			}
		}
	}
	return s, nil
}

// BuiltinServices is the service table compiled into the binary.
func BuiltinServices() *Services {
	s, err := NewServices(strings.NewReader(servicesCSV))
	if err != nil {
		panic("translate: built-in service table: " + err.Error())
	}
	return s
}

const maxServiceLen = 16

// Code normalises a service parameter: trimmed, folded as country names
// are (countries.Fold: NFKC, format characters dropped), lower-cased, a
// known full name mapped to its code. Anything that cannot be a code (empty, longer
// than 16, characters other than a-z, 0-9 and "_") is BAD_SERVICE.
func (s *Services) Code(param string) (string, error) {
	p := strings.TrimSpace(param)
	if p == "" || len(p) > 64 {
		return "", fail(BadService)
	}
	if p = strings.ToLower(strings.TrimSpace(countries.Fold(p))); p == "" {
		return "", fail(BadService)
	}
	if c, ok := s.alias[foldName(p)]; ok {
		return c, nil
	}
	if len(p) > maxServiceLen || !isToken(p) {
		return "", fail(BadService)
	}
	return p, nil
}

// foldName lower-cases a name and drops spaces, hyphens and underscores, so
// "Whats App", "whats-app" and "whatsapp" meet.
func foldName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r == ' ' || r == '-' || r == '_' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
