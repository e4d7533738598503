package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// request is one logical native call, which may take several attempts.
type request struct {
	op      string
	method  string
	path    string // escaped, starting with "/", relative to the base URL
	query   url.Values
	body    []byte // JSON body of a POST; nil for none
	idemKey string // Idempotency-Key of a POST, the same on every attempt
	timeout time.Duration
	// catalog marks a catalog call: its 2xx body may be as large as
	// Options.MaxCatalogBodyBytes, and a 2xx body it cannot use is neutral
	// for the breaker (see outcomeOf).
	catalog bool
}

// errBodyTooLarge is the cause of a *TransportError for a 2xx body longer
// than Options.MaxBodyBytes (Options.MaxCatalogBodyBytes for a catalog call).
var errBodyTooLarge = errors.New("response body too large")

// badBodyError marks a 2xx body that is not the contract's JSON. Such a body
// is not retried: the same backend would send it again.
type badBodyError struct{ err error }

func (e *badBodyError) Error() string { return "unreadable response body: " + e.err.Error() }
func (e *badBodyError) Unwrap() error { return e.err }

// call runs r until it succeeds, fails in a way that is not retryable, runs
// out of attempts or out of time, decoding a 2xx body into a fresh T on each
// attempt and checking it with valid. It is the only place that sends
// requests.
//
// r.timeout bounds the whole call, retries and backoff included. When the
// caller's ctx is done, the result is ctx.Err() itself; when only r.timeout
// ran out, it is a *TransportError wrapping context.DeadlineExceeded.
//
// Every attempt first asks c.breaker: a refused first attempt fails with
// ErrCircuitOpen, a refused retry hands back the error before it, and no
// retry sleeps while the breaker is open. Each attempt's outcome is
// recorded; one cut short by the caller's ctx is not held against the
// backend.
func call[T any](ctx context.Context, c *Client, apiKey string, r *request, valid func(*T) error) (T, error) {
	var zero T
	if !validAPIKey(apiKey) {
		return zero, &APIError{
			Op:      r.op,
			Status:  http.StatusUnauthorized,
			Code:    CodeUnauthorized,
			Message: "api key is empty or not a valid header value; no request sent",
		}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var h history
	var last error // what the call reports for the last failed attempt
	for attempt := 0; ; attempt++ {
		tk, ok := c.breaker.allow()
		if !ok {
			if last != nil {
				return zero, last
			}
			return zero, &TransportError{Op: r.op, NotSent: true, Err: ErrCircuitOpen}
		}
		v, raw := once(ctx, c, apiKey, r, valid)
		c.breaker.done(tk, outcomeOf(raw, parent.Err(), r.catalog))
		if raw == nil {
			return v, nil
		}
		if perr := parent.Err(); perr != nil {
			return zero, perr
		}
		err := h.add(r, raw)
		var te *TransportError
		if ctx.Err() != nil && errors.As(err, &te) {
			return zero, &TransportError{Op: r.op, NotSent: te.NotSent, Err: fmt.Errorf("no answer within %s: %w", r.timeout, context.DeadlineExceeded)}
		}
		if attempt >= c.retries || !retryable(raw) || c.breaker.refusing() {
			// Out of attempts, not worth another, or the breaker has
			// opened: a retry now would only be refused.
			return zero, err
		}
		last = err
		wait := c.backoffFor(attempt)
		var ae *APIError
		if errors.As(raw, &ae) && ae.RetryAfter > wait {
			wait = ae.RetryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			// Sleeping would outlive the call: hand back what we have.
			return zero, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if perr := parent.Err(); perr != nil {
				return zero, perr
			}
			return zero, err
		case <-t.C:
		}
	}
}

// history is what the failed attempts of one call tell about its effect.
type history struct {
	// sent: an attempt may have reached the backend.
	sent bool
	// unknown: an attempt of a POST may have acted without the caller
	// learning its result: it got no answer, or a 5xx.
	unknown bool
}

// add records a failed attempt and returns the error the call reports for
// it, which differs from err in two cases. A NotSent *TransportError loses
// NotSent when an earlier attempt may have been sent. A 4xx answer to a POST
// after an attempt whose effect is unknown becomes a *TransportError that
// does not wrap the *APIError: the 4xx (a 429, say) came before the backend
// looked at the Idempotency-Key, so it does not tell whether the earlier
// attempt acted, and callers must not read it as "nothing happened".
func (h *history) add(r *request, err error) error {
	var te *TransportError
	var ae *APIError
	isTE, isAE := errors.As(err, &te), errors.As(err, &ae)
	out := err
	switch {
	case isTE && te.NotSent && h.sent:
		out = &TransportError{Op: te.Op, Err: te.Err}
	case isAE && ae.Status < 500 && h.unknown:
		out = &TransportError{Op: r.op, Err: fmt.Errorf("outcome unknown: an earlier attempt may have acted, then %v", err)}
	}
	if !isTE || !te.NotSent {
		h.sent = true
	}
	if r.method == http.MethodPost && (isTE && !te.NotSent || isAE && ae.Status >= 500) {
		h.unknown = true
	}
	return out
}

// retryable reports whether a failed attempt may be repeated: a transport
// failure other than an unreadable or oversized 2xx body, or a 502, 503 or
// 504. Every call is safe to repeat: GETs by nature and POSTs because they
// repeat their Idempotency-Key. A 500 is not retried (the backend failed on
// this request and would most likely fail again), nor a 429 (the wait is
// usually hours) nor any other 4xx (the request itself is refused).
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var bb *badBodyError
	if errors.As(err, &bb) || errors.Is(err, errBodyTooLarge) {
		return false
	}
	var te *TransportError
	return errors.As(err, &te)
}

// backoffFor is the jittered wait before retry number attempt+1: between
// half and all of Backoff*2^attempt.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff << min(attempt, 16)
	if d <= 0 {
		d = c.backoff
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// once makes one attempt of r.
func once[T any](ctx context.Context, c *Client, apiKey string, r *request, valid func(*T) error) (T, error) {
	var v T
	u := c.baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	// http.Transport silently sends a GET or a request with an
	// Idempotency-Key again when a reused connection breaks; if that second
	// dial fails, the dial error alone would hide that the first copy was
	// written. Anything written counts as sent.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		// Only a bad method or URL gets here; the URL is ours, without secrets.
		return v, fmt.Errorf("upstream %s: building request: %w", r.op, err)
	}
	h := req.Header
	h["X-Api-Key"] = []string{apiKey}
	h["Accept"] = []string{"application/json"}
	h["User-Agent"] = []string{c.userAgent}
	if r.body != nil {
		h["Content-Type"] = []string{"application/json"}
	}
	if r.idemKey != "" {
		h["Idempotency-Key"] = []string{r.idemKey}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return v, &TransportError{Op: r.op, NotSent: notSent(err) && !wrote.Load(), Err: scrub(redact(err), apiKey)}
	}
	defer closeBody(resp.Body)
	if err := checkResponse(r.op, resp, c.maxBody, apiKey, c.now()); err != nil {
		return v, err
	}
	limit := c.maxBody
	if r.catalog {
		limit = c.maxCatalog
	}
	if err := decodeBody(resp.Body, limit, &v); err != nil {
		switch {
		case errors.Is(err, errBodyTooLarge):
			err = fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, limit)
		case isReadErr(err):
			// The connection failed while the body came: worth a retry.
		default:
			// Not JSON, truncated JSON, wrong types, a price that is not a
			// decimal: the backend does not speak the contract.
			err = &badBodyError{err: err}
		}
		return v, &TransportError{Op: r.op, Err: scrub(redact(err), apiKey)}
	}
	if err := valid(&v); err != nil {
		return v, &TransportError{Op: r.op, Err: scrub(&badBodyError{err: err}, apiKey)}
	}
	return v, nil
}

// decodeBody decodes the JSON value at the start of body, read within
// limit, into v: an activation by decodeActivationBody, anything else by
// encoding/json.
func decodeBody[T any](body io.Reader, limit int64, v *T) error {
	if a, ok := any(v).(*Activation); ok {
		return decodeActivationBody(body, limit, a)
	}
	return json.NewDecoder(&capReader{r: body, left: limit}).Decode(v)
}

// notSent reports whether err certainly came before the request left: a
// failed dial, DNS lookup or proxy CONNECT. once also requires that no
// copy of the request was written.
func notSent(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && (oe.Op == "dial" || oe.Op == "proxyconnect") {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}

// readErr marks an error returned by the response body itself (a reset or
// a timeout while reading), as opposed to a decoding error.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

func isReadErr(err error) bool {
	var re *readErr
	return errors.As(err, &re)
}

// redact drops the URL from a *url.Error: the URL holds the query, and
// nothing but the method is needed to tell calls apart.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// scrub hides apiKey in the text of err, should a backend have echoed it
// into something that ends up there; errors.Is and errors.As still see err.
func scrub(err error, apiKey string) error {
	if !strings.Contains(err.Error(), apiKey) {
		return err
	}
	return &scrubbedError{err: err, text: strings.ReplaceAll(err.Error(), apiKey, "[redacted]")}
}

type scrubbedError struct {
	err  error
	text string
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// capReader reads from r and fails with errBodyTooLarge once more than left
// bytes came. Errors of r itself come back as *readErr.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left+1] // one byte more than allowed, to notice an excess
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, errBodyTooLarge
	}
	if err != nil && err != io.EOF {
		err = &readErr{err: err}
	}
	return n, err
}

// closeBody drains what is left of a body, up to a bound, so that the
// connection can be reused, and closes it.
func closeBody(b io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, b, 64<<10)
	_ = b.Close()
}

// validAPIKey reports whether key can be sent as a header value: one or more
// visible ASCII characters.
func validAPIKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// HeaderKey is the API key a native API request carries, as the native API
// reads it: the X-Api-Key header, or "Authorization: Bearer <key>"; "" if
// neither.
func HeaderKey(h http.Header) string {
	if k := h.Get("X-Api-Key"); k != "" {
		return k
	}
	a := h.Get("Authorization")
	const bearer = "bearer "
	if len(a) > len(bearer) && strings.EqualFold(a[:len(bearer)], bearer) {
		return strings.TrimSpace(a[len(bearer):])
	}
	return ""
}
