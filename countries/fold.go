package countries

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold is how a name a bot sends is normalised before it is matched, the
// same for countries (Resolve) and services (translate.Services.Code):
// Unicode NFKC, so that a Kelvin sign is a K, fullwidth letters and digits
// are ASCII and ligatures are spelt out, with format characters (category
// Cf: zero-width space and joiners, soft hyphen, byte order mark, bidi
// marks) dropped. An ASCII s is returned as is, without allocating.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, norm.NFKC.String(s))
}
