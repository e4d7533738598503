package upstream

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// checkResponse returns nil for a 2xx answer and an *APIError for every
// other one, whatever its body, reading that body up to maxBody bytes. It is
// the only place that builds an *APIError from an answer, as CheckResponse
// in go-github:
//
//   - Code is the body's "error", trimmed and lower-cased; "" when the body
//     is not the contract's JSON (an HTML page from a proxy, say), or when a
//     code outside the contract holds apiKey.
//   - Message is the body's "message", with apiKey hidden, in any ASCII case,
//     should the backend have echoed it.
//   - RetryAfter comes from the Retry-After header, in seconds or as an
//     HTTP-date (relative to now; a past date is 0), else from the body's
//     retryAfter seconds.
//   - MinPrice is set for price_above_max; see minPrice.
func checkResponse(op string, resp *http.Response, maxBody int64, apiKey string, now time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := &APIError{Op: op, Status: resp.StatusCode}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	var body ErrorBody
	if err == nil && int64(len(data)) <= maxBody && json.Unmarshal(data, &body) == nil {
		e.Code = strings.ToLower(strings.TrimSpace(body.Error))
		e.Message = body.Message
		if apiKey != "" {
			// A backend that echoes the key, in any case, must not put it
			// into error text: a code of its own holding it is no code.
			if !contractCodes[e.Code] && strings.Contains(e.Code, asciiLower(apiKey)) {
				e.Code = ""
			}
			e.Message = redactKey(e.Message, apiKey)
		}
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	} else if body.RetryAfter > 0 {
		e.RetryAfter = seconds(body.RetryAfter)
	}
	if e.Code == CodePriceAboveMax {
		e.MinPrice = minPrice(e.Message)
	}
	return e
}

// contractCodes are the codes of the contract, which say nothing about any
// key.
var contractCodes = map[string]bool{
	CodeValidation: true, CodeUnauthorized: true, CodeInsufficient: true, CodeForbidden: true, CodeNotFound: true,
	CodeOutOfStock: true, CodeInvalidState: true, CodeEarlyCancel: true, CodeUnknownService: true,
	CodeUnknownCountry: true, CodePriceAboveMax: true, CodeRateLimitExceeded: true, CodeInternal: true,
}

// redactKey replaces every occurrence of key in s, in any ASCII case, with
// "[redacted]".
func redactKey(s, key string) string {
	lower, k := asciiLower(s), asciiLower(key)
	i := strings.Index(lower, k)
	if i < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i >= 0 {
		b.WriteString(s[last : last+i])
		b.WriteString("[redacted]")
		last += i + len(k)
		i = strings.Index(lower[last:], k)
	}
	b.WriteString(s[last:])
	return b.String()
}

// asciiLower lower-cases the ASCII letters of s and nothing else, so that
// byte offsets in the result are offsets in s.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP-date.
// ok is false when v is empty or neither.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return seconds(n), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d.Round(time.Second), true
	}
	return 0, true
}

// seconds turns n seconds into a Duration, saturating instead of wrapping.
func seconds(n int64) time.Duration {
	if n > int64(math.MaxInt64/time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}

// minPrice finds the cheapest price in a price_above_max message: the first
// decimal after the word "minimum", "min", "cheapest" or "lowest" (any case),
// else the only decimal of the message; "" when neither exists, rather than a
// guess that could be the maxPrice.
func minPrice(msg string) Decimal {
	lower := strings.ToLower(msg)
	best := -1
	for _, w := range [...]string{"minimum", "min", "cheapest", "lowest"} {
		if i := wordIndex(lower, w); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best >= 0 {
		if d, ok := nextDecimal(msg[best:]); ok {
			return d
		}
	}
	nums := decimals(msg)
	if len(nums) == 1 {
		return nums[0]
	}
	return ""
}

// decimals lists the plain decimals of s: runs of digits with at most one
// inner dot, such as "0.75" or "2" (a sentence's final dot is not kept).
func decimals(s string) []Decimal {
	var out []Decimal
	for {
		d, rest, ok := scanDecimal(s)
		if !ok {
			return out
		}
		out = append(out, d)
		s = rest
	}
}

func nextDecimal(s string) (Decimal, bool) {
	d, _, ok := scanDecimal(s)
	return d, ok
}

// scanDecimal finds the first decimal in s and returns it with the text after it.
func scanDecimal(s string) (Decimal, string, bool) {
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return "", "", false
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
		}
	}
	return Decimal(s[i:j]), s[j:], true
}

// wordIndex is the index of the first w in s that starts a word, or -1.
func wordIndex(s, w string) int {
	for off := 0; ; {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || !isLetter(s[i-1]) {
			return i
		}
		off = i + 1
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
