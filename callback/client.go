package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// MaxBody is the largest body Post sends, in bytes. Events are a few
// hundred bytes.
const MaxBody = 16 << 10

// maxResponse is how much of a receiver's answer is read before the
// connection is given back: the status is all that counts.
const maxResponse = 4 << 10

// Options tunes a Client. The zero value is usable.
type Options struct {
	// Timeout bounds one attempt, from dialling to the end of the
	// answer's first maxResponse bytes (SHIM_CALLBACK_TIMEOUT). Default
	// 10s.
	Timeout time.Duration
	// AllowPrivate lets the client connect to loopback, private and
	// link-local addresses (SHIM_CALLBACK_ALLOW_PRIVATE): for tests and
	// receivers inside the shim's own network.
	AllowPrivate bool
	// UserAgent is sent with every request. Default "smsbulk-shim".
	UserAgent string
}

// Client posts events. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	timeout   time.Duration
	userAgent string
}

// New makes a Client.
func New(opt Options) *Client {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "smsbulk-shim"
	}
	d := &net.Dialer{Timeout: opt.Timeout, KeepAlive: 30 * time.Second}
	if !opt.AllowPrivate {
		d.ControlContext = refusePrivate
	}
	tr := &http.Transport{
		Proxy:                  nil, // never the environment's: it could reach what the dialer refuses
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    opt.Timeout,
		ResponseHeaderTimeout:  opt.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			// A redirect is the receiver's answer, not an order to post
			// elsewhere: a 3xx is a failed attempt.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:   opt.Timeout,
		userAgent: opt.UserAgent,
	}
}

// BlockedError is a connection the client refused to open: Addr is not
// one translate.AllowedAddr accepts.
type BlockedError struct {
	Addr netip.Addr
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("callback: refusing to connect to %s: not a public address", e.Addr)
}

// refusePrivate is the dialer's check of every address it connects to,
// after name resolution: a name that resolves to 127.0.0.1 is refused as
// the literal is.
func refusePrivate(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("callback: dialling %q: %w", address, err)
	}
	if !translate.AllowedAddr(ap.Addr()) {
		return &BlockedError{Addr: ap.Addr().Unmap()}
	}
	return nil
}

// Post sends body to rawURL with the headers h (Content-Type is set to
// application/json) within the client's Timeout, and returns the answer's
// HTTP status; the answer's body is read up to a few KB and dropped. A
// status is returned whatever it is (a 3xx or 5xx is not an error); err
// is for an attempt that got no answer. Errors name the URL only by its
// scheme and host (Target), never its path or query, which may hold the
// bot's secrets.
func (c *Client) Post(ctx context.Context, rawURL string, body []byte, h http.Header) (int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, errors.New("callback: malformed url")
	}
	target := Target(u)
	if len(body) > MaxBody {
		return 0, fmt.Errorf("posting to %s: body of %d bytes, at most %d", target, len(body), MaxBody)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("posting to %s: %w", target, redact(err))
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("posting to %s: no answer within %v", target, c.timeout)
		}
		return 0, fmt.Errorf("posting to %s: %w", target, redact(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redact drops the *url.Error around err, whose text holds the whole URL.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Target is what logs and spans show of a callback URL: its scheme and
// host, without path, query or user information.
func Target(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// TargetOf is Target of a raw URL, or "invalid" when it does not parse.
func TargetOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "invalid"
	}
	return Target(u)
}

// Sign is the X-Shim-Signature value of body under key:
// "sha256=" and the lower-case hex of HMAC-SHA256(key, body). A receiver
// computes the same over the raw body with the bot's API key and compares
// in constant time (Verify).
func Sign(body []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is Sign(body, key), in constant time:
// what a receiver written in Go does with each event.
func Verify(body []byte, key, signature string) bool {
	return hmac.Equal([]byte(Sign(body, key)), []byte(signature))
}
