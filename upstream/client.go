package upstream

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultBuyTimeout   = 20 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxCatalogBodyBytes is the default Options.MaxCatalogBodyBytes:
	// 64 MiB, room for a catalog of every country and service many times
	// over (the sandbox's whole offer list is about 7 MB).
	DefaultMaxCatalogBodyBytes = 64 << 20
	DefaultRetries             = 2
	DefaultBackoff             = 100 * time.Millisecond
	DefaultUserAgent           = "smsbulk-shim"
	// DefaultBreakerThreshold and DefaultBreakerCooldown are the circuit
	// breaker's defaults: open after 5 failures in a row, for 5s.
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 5 * time.Second
)

// Options tunes a Client. The zero value is ready to use.
type Options struct {
	// Transport sends the requests. Nil means a tuned *http.Transport
	// (keep-alive, MaxIdleConns 512, MaxIdleConnsPerHost 256,
	// IdleConnTimeout 90s, 5s dial and TLS handshake timeouts,
	// ForceAttemptHTTP2, no proxy: the environment is not read).
	Transport http.RoundTripper
	// WrapTransport, when not nil, wraps Transport (or the default one), for
	// example with otelhttp.NewTransport. It must keep request headers out of
	// anything it records: they carry the API key.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Timeout bounds one whole call except Buy, retries and backoff
	// included, inside the caller's context. Zero means DefaultTimeout (10s).
	Timeout time.Duration
	// BuyTimeout bounds one whole Buy call. Zero means DefaultBuyTimeout (20s).
	BuyTimeout time.Duration
	// MaxBodyBytes caps the bytes read from one response body; a larger 2xx
	// body is a *TransportError, a larger error body an *APIError without
	// Code. Zero means DefaultMaxBodyBytes (1 MiB). It does not apply to
	// the 2xx answers of the catalog calls (MaxCatalogBodyBytes does).
	MaxBodyBytes int64
	// MaxCatalogBodyBytes caps the bytes read from the 2xx body of a catalog
	// call (Countries, Services, Offers): the whole offer list is several MB.
	// A larger body fails that call alone with a *TransportError; like an
	// undecodable catalog body it does not count against the circuit
	// breaker. Error bodies stay capped by MaxBodyBytes. Zero means
	// DefaultMaxCatalogBodyBytes (64 MiB).
	MaxCatalogBodyBytes int64
	// Retries is how many attempts a call may make after the first when it
	// failed in a retryable way (see the package documentation). Zero means
	// DefaultRetries (2); a negative value turns retries off.
	Retries int
	// Backoff is the base wait before the first retry; it doubles for each
	// further retry and is jittered to between half and all of that. Zero
	// means DefaultBackoff (100ms).
	Backoff time.Duration
	// NewIdempotencyKey makes the Idempotency-Key of one logical POST call.
	// Nil means 128 random bits in hex. It must not return "" and must not
	// return the same key twice.
	NewIdempotencyKey func() string
	// UserAgent is sent as User-Agent. Empty means DefaultUserAgent.
	UserAgent string
	// BreakerThreshold is how many attempts in a row, across all calls, must
	// fail (a transport failure or a 5xx; any other answer, 429 included,
	// resets the count) before the circuit breaker opens and every call fails at
	// once, without a request, with a *TransportError wrapping
	// ErrCircuitOpen. Zero means DefaultBreakerThreshold (5); a negative
	// value turns the breaker off. The breaker is shared by all API keys.
	BreakerThreshold int
	// BreakerCooldown is how long an open breaker refuses calls before it
	// lets one probe through; the probe's success closes it and its failure
	// opens it for another cooldown. Zero means DefaultBreakerCooldown (5s).
	BreakerCooldown time.Duration
	// Now is the clock used to turn an HTTP-date Retry-After into a
	// duration and to time the breaker's cooldown. Nil means time.Now.
	Now func() time.Time
}

// Client calls the native SMSBulk API. It is safe for concurrent use. The API
// key is a parameter of every call, never stored, and never written into an
// error.
type Client struct {
	baseURL    string
	hc         *http.Client
	timeout    time.Duration
	buyTimeout time.Duration
	maxBody    int64
	maxCatalog int64
	retries    int
	backoff    time.Duration
	newKey     func() string
	userAgent  string
	now        func() time.Time
	breaker    *breaker
}

// New returns a Client for baseURL, which includes the native prefix, such
// as "https://smsbulk.net/api/v1". baseURL must be an absolute http or https
// URL without user info, query or fragment; a trailing slash is ignored.
// Negative Timeout, BuyTimeout, MaxBodyBytes, MaxCatalogBodyBytes, Backoff or
// BreakerCooldown are errors.
func New(baseURL string, opt Options) (*Client, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if opt.Timeout < 0 || opt.BuyTimeout < 0 || opt.MaxBodyBytes < 0 || opt.MaxCatalogBodyBytes < 0 || opt.Backoff < 0 || opt.BreakerCooldown < 0 {
		return nil, errors.New("creating upstream client: negative timeout, body limit, backoff or breaker cooldown")
	}
	c := &Client{
		baseURL:    base,
		timeout:    orDefault(opt.Timeout, DefaultTimeout),
		buyTimeout: orDefault(opt.BuyTimeout, DefaultBuyTimeout),
		maxBody:    orDefault(opt.MaxBodyBytes, DefaultMaxBodyBytes),
		maxCatalog: orDefault(opt.MaxCatalogBodyBytes, DefaultMaxCatalogBodyBytes),
		retries:    opt.Retries,
		backoff:    orDefault(opt.Backoff, DefaultBackoff),
		newKey:     opt.NewIdempotencyKey,
		userAgent:  opt.UserAgent,
		now:        opt.Now,
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.newKey == nil {
		c.newKey = randomKey
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.breaker = newBreaker(orDefault(opt.BreakerThreshold, DefaultBreakerThreshold),
		orDefault(opt.BreakerCooldown, DefaultBreakerCooldown), c.now)
	rt := opt.Transport
	if rt == nil {
		rt = NewTransport()
	}
	if opt.WrapTransport != nil {
		rt = opt.WrapTransport(rt)
	}
	c.hc = &http.Client{
		Transport: rt,
		// A redirect would carry x-api-key to wherever it points, and the
		// native API never redirects: a 3xx is handed back as an *APIError.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// NewTransport returns the *http.Transport a Client uses when
// Options.Transport is nil, for callers that wrap or share it.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, which may hold user info.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("parsing upstream base url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("parsing upstream base url: scheme must be http or https")
	case u.Host == "":
		return "", errors.New("parsing upstream base url: no host")
	case u.User != nil:
		return "", errors.New("parsing upstream base url: user info is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("parsing upstream base url: query and fragment are not allowed")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// randomKey is the default Options.NewIdempotencyKey: 128 random bits in hex.
func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes instead.
	return hex.EncodeToString(b[:])
}
