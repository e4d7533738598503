package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// maskQuery hides the values of secret-looking query parameters (api_key,
// token, ...) from the otelhttp transport it wraps, which records the whole
// URL as url.full; unmaskQuery, under otelhttp, puts them back before the
// request leaves. A pass-through request may carry a bot's API key in its
// query string; native calls carry it in a header, which is never recorded.
type maskQuery struct{ next http.RoundTripper }

// unmaskQuery restores the query that maskQuery hid.
type unmaskQuery struct{ next http.RoundTripper }

type rawQueryKey struct{}

func (m maskQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	masked, ok := maskedQuery(r.URL.RawQuery)
	if !ok {
		return m.next.RoundTrip(r)
	}
	out := r.Clone(context.WithValue(r.Context(), rawQueryKey{}, r.URL.RawQuery))
	out.URL.RawQuery = masked
	return m.next.RoundTrip(out)
}

func (u unmaskQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	raw, ok := r.Context().Value(rawQueryKey{}).(string)
	if !ok {
		return u.next.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	out.URL.RawQuery = raw
	return u.next.RoundTrip(out)
}

// maskedQuery is raw with the value of every secret-looking parameter
// replaced by REDACTED, and whether there was one. Order and encoding of the
// other parameters are kept.
func maskedQuery(raw string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	found := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if secretParam(name) {
			parts[i] = url.QueryEscape(name) + "=REDACTED"
			found = true
		}
	}
	if !found {
		return raw, false
	}
	return strings.Join(parts, "&"), true
}

// secretParam reports whether a query parameter name looks like it holds a
// credential.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"key", "token", "secret", "passw", "signature", "auth", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return n == "sig"
}
