package translate

import (
	"bytes"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// MaxWaitDigits is the longest wait accepted, in digits: up to 99999
// seconds, which the shim then clamps to its own maximum.
const MaxWaitDigits = 5

// ParseWait reads getStatus's and getStatusV2's optional wait: how long
// the answer may wait for the activation to stop waiting (long-poll). ""
// is no wait; otherwise 1 to MaxWaitDigits ASCII digits, seconds, and a
// value above limit is limit (the bot cannot know the shim's maximum). limit 0
// (long-poll off) makes every valid wait 0. A sign, a space, a fraction,
// any other character or more digits is BAD_ACTION, before anything is
// looked up.
func ParseWait(s string, limit time.Duration) (time.Duration, error) {
	if len(s) > MaxWaitDigits {
		return 0, fail(BadAction)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fail(BadAction)
		}
		n = n*10 + int(c-'0')
	}
	return min(time.Duration(n)*time.Second, max(0, limit)), nil
}

// Waiting reports whether getStatus of a answers STATUS_WAIT_CODE or
// STATUS_WAIT_RETRY:<code>: what a long-poll waits to change. An
// activation getStatus cannot answer (an unknown status) is not waiting:
// its error is the answer.
func Waiting(a upstream.Activation) bool {
	body, err := StatusBody(a)
	return err == nil && (bytes.Equal(body, statusWaitCode) || bytes.HasPrefix(body, statusWaitRetry))
}

var statusWaitRetry = []byte("STATUS_WAIT_RETRY:")
