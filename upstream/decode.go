package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// decodeActivationBody decodes the activation in body, read within limit,
// as json.NewDecoder(&capReader{body, limit}).Decode(a) does: for a body
// within limit, the same value and the same error; a longer body fails
// with errBodyTooLarge unless its first JSON value ends early enough (how
// early depended on the reads there, and still does). A whole body of the
// shape the native API sends (a flat object of plain strings) is decoded
// by decodeActivation in one string allocation; anything else, and a body
// that is long or fails while it is read, goes to encoding/json over the
// bytes already read and the rest.
func decodeActivationBody(body io.Reader, limit int64, a *Activation) error {
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	buf := (*bp)[:cap(*bp)]
	if int64(len(buf)) > limit {
		buf = buf[:limit]
	}
	n, err := io.ReadFull(body, buf)
	var rest io.Reader
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// The whole body, shorter than the buffer and the limit.
		if decodeActivation(buf[:n], a) {
			return nil
		}
		*a = Activation{}
		return json.NewDecoder(bytes.NewReader(buf[:n])).Decode(a)
	case err != nil:
		rest = &failingReader{err: err}
	default:
		rest = body
	}
	return json.NewDecoder(&capReader{r: io.MultiReader(bytes.NewReader(buf[:n]), rest), left: limit}).Decode(a)
}

// bodyBufs are the buffers decodeActivationBody reads a body into: an
// activation is a few hundred bytes.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

// decodeActivation decodes b, a whole body, into a when it is one JSON
// object whose names are the exact names of Activation's fields or other
// plain ASCII names, and whose values are plain strings (no escape, valid
// UTF-8), or null for smsCode and smsText and for other names, or true or
// false for other names; followed by white space only. It reports false,
// leaving a partly set, for anything else, which encoding/json must decode
// instead (FuzzDecodeActivation holds the two to the same answers). Its
// strings share one copy of b.
func decodeActivation(b []byte, a *Activation) bool {
	s := string(b)
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		name, j, ok := plainString(s, i)
		if !ok {
			return false
		}
		i = skipSpace(s, j)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		if i >= len(s) {
			return false
		}
		if s[i] == '"' {
			start := i
			v, j, ok := plainString(s, i)
			if !ok || !a.setString(name, v, b[start:j]) {
				return false
			}
			i = j
		} else {
			lit := ""
			for _, l := range [...]string{"null", "true", "false"} {
				if strings.HasPrefix(s[i:], l) {
					lit = l
				}
			}
			if lit == "" || !a.setLiteral(name, lit) {
				return false
			}
			i += len(lit)
		}
		i = skipSpace(s, i)
		if i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return skipSpace(s, i+1) == len(s)
		default:
			return false
		}
	}
}

// activationNames are the JSON names of Activation's fields.
var activationNames = [...]string{"id", "phoneNumber", "status", "userCost", "serviceCode", "countryIso",
	"smsCode", "smsText", "createdAt", "expiresAt"}

// setString sets the field named name to v (raw is v with its quotes), or
// ignores another name; false when encoding/json must decide.
func (a *Activation) setString(name, v string, raw []byte) bool {
	switch name {
	case "id":
		a.ID = v
	case "phoneNumber":
		a.PhoneNumber = v
	case "status":
		a.Status = Status(v)
	case "userCost":
		if !Decimal(v).IsValid() {
			return false
		}
		a.UserCost = Decimal(v)
	case "serviceCode":
		a.ServiceCode = v
	case "countryIso":
		a.CountryISO = v
	case "smsCode":
		a.SMSCode = &v
	case "smsText":
		a.SMSText = &v
	case "createdAt":
		return a.CreatedAt.UnmarshalJSON(raw) == nil
	case "expiresAt":
		return a.ExpiresAt.UnmarshalJSON(raw) == nil
	default:
		return otherName(name)
	}
	return true
}

// setLiteral sets the field named name to null, true or false, or ignores
// another name; false when encoding/json must decide.
func (a *Activation) setLiteral(name, lit string) bool {
	switch name {
	case "smsCode":
		if lit == "null" {
			a.SMSCode = nil
			return true
		}
	case "smsText":
		if lit == "null" {
			a.SMSText = nil
			return true
		}
	default:
		return otherName(name)
	}
	return false
}

// otherName reports whether encoding/json certainly ignores name: plain
// ASCII that does not match a field's name even without regard to case
// (encoding/json matches names that way).
func otherName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range activationNames {
		if strings.EqualFold(name, f) {
			return false
		}
	}
	return true
}

// plainString reads the JSON string at s[i]: its content and the index
// after its closing quote, when it has no escape, no control character and
// is valid UTF-8.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			v := s[i+1 : j]
			return v, j + 1, utf8.ValidString(v)
		case c == '\\' || c < ' ':
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipSpace is the index of the first byte at or after i that is not JSON
// white space.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
