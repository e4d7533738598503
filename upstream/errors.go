package upstream

import (
	"fmt"
	"strings"
	"time"
)

// APIError is a non-2xx answer of the native API. Every such answer becomes an
// *APIError, whatever its body; Code is the lower-cased "error" field of the
// body ("" when the body was not the contract's JSON).
type APIError struct {
	// Op names the native call, such as "buy" or "balance".
	Op string
	// Status is the HTTP status code.
	Status int
	// Code is the snake_case native code, lower-cased.
	Code string
	// Message is the backend's text, for logs; never shown to bots.
	Message string
	// RetryAfter is how long the backend asked to wait (Retry-After header,
	// else the body's retryAfter); 0 when it gave none.
	RetryAfter time.Duration
	// MinPrice is the cheapest offer named by price_above_max, when the
	// message carries one; "" otherwise.
	MinPrice Decimal
}

func (e *APIError) Error() string {
	return fmt.Sprintf("upstream %s: http %d %s", e.Op, e.Status, e.Code)
}

// Is reports whether e has the code of target, so that
// errors.Is(err, &APIError{Code: CodeOutOfStock}) works. A target with
// Status set compares the status too.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok {
		return false
	}
	if t.Status != 0 && t.Status != e.Status {
		return false
	}
	return t.Code == "" || strings.EqualFold(t.Code, e.Code)
}

// TransportError is a native call that got no usable answer: a dial error, a
// timeout, a reset connection, or a body that is not the contract's JSON.
type TransportError struct {
	// Op names the native call.
	Op string
	// NotSent is true when the request certainly never reached the backend
	// (a dial error), so that retrying it cannot repeat its effect.
	NotSent bool
	// Err is the cause; its text never holds the API key.
	Err error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("upstream %s: %v", e.Op, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }
