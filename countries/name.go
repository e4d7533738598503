package countries

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// appendKey appends the lookup key of name s to dst and returns it: letters
// and digits lower-cased, every other character a separator, each run of
// separators one hyphen, and none at either end. "South Africa",
// "south_africa" and "--SOUTH-africa " all give "south-africa".
func appendKey(dst []byte, s string) []byte {
	start := len(dst)
	sep := false
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			r = unicode.ToLower(r)
		default:
			sep = true
			continue
		}
		if sep && len(dst) > start {
			dst = append(dst, '-')
		}
		sep = false
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// hasLetter reports whether key holds a letter. Keys without one are never
// indexed, so that "+1" or "0-6-2" cannot resolve as a name.
func hasLetter(key []byte) bool {
	for _, r := range string(key) {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// validSlug reports whether s is lower-case ASCII letters and digits in
// hyphen-separated words, holds a letter and is at most MaxInputLen bytes, so
// that appendKey keeps it unchanged and Resolve can reach it.
func validSlug(s string) bool {
	if s == "" || len(s) > MaxInputLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			letter = true
		case '0' <= c && c <= '9':
		case c == '-':
			if s[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return letter
}

// parseID parses a canonical non-negative decimal integer: "0", "62", "187";
// not "062", "+1", "-1", " 62" or "".
func parseID(s string) (int, bool) {
	if !allDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isoKey returns the upper-case ISO key of s when s is exactly two ASCII
// letters in any case.
func isoKey[S ~string | ~[]byte](s S) ([2]byte, bool) {
	if len(s) != 2 {
		return [2]byte{}, false
	}
	var k [2]byte
	for i := range 2 {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			k[i] = c
		case 'a' <= c && c <= 'z':
			k[i] = c - ('a' - 'A')
		default:
			return [2]byte{}, false
		}
	}
	return k, true
}
