package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// rateWindow counts one API key's requests in its current window.
type rateWindow struct {
	start time.Time
	count int
}

// admit counts a request of key against the rate limit and sets the
// X-RateLimit-* headers on w. Over the limit it returns the 429 answer and
// false; the refused request does not count.
func (s *Sandbox) admit(w http.ResponseWriter, key string) (result, bool) {
	if s.rateLimit <= 0 {
		return result{}, true
	}
	s.mu.Lock()
	now := s.now()
	win, ok := s.windows[key]
	if !ok || !now.Before(win.start.Add(s.rateWindow)) {
		win = &rateWindow{start: now}
		s.windows[key] = win
	}
	allowed := win.count < s.rateLimit
	if allowed {
		win.count++
	}
	count := win.count
	reset := win.start.Add(s.rateWindow)
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.rateLimit-count))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(reset), 10))
	if allowed {
		return result{}, true
	}
	wait := max(1, int64((reset.Sub(now)+time.Second-1)/time.Second))
	h.Set("Retry-After", strconv.FormatInt(wait, 10))
	return jsonResult(http.StatusTooManyRequests, upstream.ErrorBody{
		Error:      upstream.CodeRateLimitExceeded,
		Message:    fmt.Sprintf("rate limit of %d requests per %v exceeded", s.rateLimit, s.rateWindow),
		RetryAfter: wait,
		Limit:      int64(s.rateLimit),
		Usage:      int64(count),
	}), false
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}
