package sandbox

import (
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// idempotencyTTL is how long a stored answer is replayed.
const idempotencyTTL = 24 * time.Hour

// idemKey scopes an Idempotency-Key to the API key that sent it.
type idemKey struct{ apiKey, key string }

// idemEntry is the stored first answer to one idempotency key.
type idemEntry struct {
	k   idemKey
	at  time.Time
	fp  [sha256.Size]byte // method, path and body of the first request
	res result
}

// idempotent runs act once per (API key, Idempotency-Key) within 24 hours and
// replays its answer afterwards. The caller holds s.mu, which also makes
// concurrent duplicates wait for the first.
func (s *Sandbox) idempotent(method, path string, c *call, act action) result {
	k := idemKey{c.key, c.idem}
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(c.body)
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	if e, ok := s.idem[k]; ok && c.now.Sub(e.at) < idempotencyTTL {
		if e.fp != fp {
			return errResult(http.StatusBadRequest, upstream.CodeValidation, "Idempotency-Key was already used for a different request")
		}
		res := e.res
		res.replayed = true
		return res
	}
	res := act(c)
	e := &idemEntry{k: k, at: c.now, fp: fp, res: res}
	s.idem[k] = e
	s.idemOrder = append(s.idemOrder, e)
	return res
}

// purgeIdempotency forgets answers older than 24 hours. The caller holds
// s.mu.
func (s *Sandbox) purgeIdempotency(now time.Time) {
	n := 0
	for _, e := range s.idemOrder {
		if now.Sub(e.at) < idempotencyTTL {
			break
		}
		if s.idem[e.k] == e {
			delete(s.idem, e.k)
		}
		n++
	}
	if n > 0 {
		s.idemOrder = append(s.idemOrder[:0:0], s.idemOrder[n:]...)
	}
}
