package translate

import (
	"net/url"
	"strings"
)

// Limits bounds what one legacy request may carry. A request over a limit
// is answered BAD_ACTION (a malformed request, in the page's words) and
// reaches nothing behind the shim. Zero fields take the defaults.
type Limits struct {
	// MaxQueryBytes bounds the raw query string. Default 4096.
	MaxQueryBytes int
	// MaxBodyBytes bounds a POST body. Default 64 KiB.
	MaxBodyBytes int64
	// MaxParams bounds the number of parameter values, query and body
	// together. Default 64.
	MaxParams int
	// MaxParamBytes bounds one parameter's name or value. Default 1024.
	MaxParamBytes int
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxQueryBytes <= 0 {
		l.MaxQueryBytes = 4096
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 64 << 10
	}
	if l.MaxParams <= 0 {
		l.MaxParams = 64
	}
	if l.MaxParamBytes <= 0 {
		l.MaxParamBytes = 1024
	}
	return l
}

// Check reports BAD_ACTION when the parameter sources together carry more
// values than MaxParams, or a name or value longer than MaxParamBytes. The
// raw sizes (MaxQueryBytes, MaxBodyBytes) are the reader's to enforce.
func (l Limits) Check(sources ...url.Values) error {
	n := 0
	for _, src := range sources {
		for k, vs := range src {
			n += len(vs)
			if n > l.MaxParams || len(k) > l.MaxParamBytes {
				return fail(BadAction)
			}
			for _, v := range vs {
				if len(v) > l.MaxParamBytes {
					return fail(BadAction)
				}
			}
		}
	}
	return nil
}

// ParseParams reads an urlencoded query or form body as PHP does: pairs are
// split on "&" only (a ";" is part of the value), "+" is a space, and a "%"
// not followed by two hex digits stays as it is. No pair is ever dropped:
// url.ParseQuery drops a pair with a ";" or a bad escape, which would turn
// "maxPrice=0.10;x" into no price limit and "country=62;x" into the default
// country, instead of the BAD_ACTION and BAD_COUNTRY such values get.
func ParseParams(s string) url.Values {
	v := url.Values{}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = unescapeParam(name)
		v[name] = append(v[name], unescapeParam(value))
	}
	return v
}

// unescapeParam decodes "+" and valid %XX escapes and keeps everything else.
func unescapeParam(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// ValidKey is the one rule for an API key the shim sends on: 1 to 256
// printable ASCII characters, no space. Any other key is BAD_KEY without a
// native call.
func ValidKey(k string) bool {
	if len(k) == 0 || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}
