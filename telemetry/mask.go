package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// maskQuery hides the query values of the requests that pass the otelhttp
// transport it wraps, which records the whole URL as url.full: every value
// but those of harmlessParams is REDACTED. unmaskQuery, under otelhttp, puts
// the query back before the request leaves. A pass-through request may
// carry any secret in its query string (a key, a password, a session, a
// PIN), under any name; native calls carry the API key in a header, which
// is never recorded.
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

// maskedQuery is raw with the value of every parameter whose name is not
// in harmlessParams replaced by REDACTED, and whether there was one. A
// parameter without "=" is REDACTED whole unless harmless: it may be a
// token. Order and separators are kept, and the names and values of the
// harmless parameters as sent.
func maskedQuery(raw string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	orig := raw
	var b strings.Builder
	found := false
	for raw != "" {
		var p, sep string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			p, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			p, raw = raw, ""
		}
		name, _, hasValue := strings.Cut(p, "=")
		n := name
		if u, err := url.QueryUnescape(name); err == nil {
			n = u
		}
		switch {
		case p == "" || harmlessParams[strings.ToLower(n)]:
			b.WriteString(p)
		case !hasValue:
			b.WriteString("REDACTED")
			found = true
		default:
			b.WriteString(url.QueryEscape(n) + "=REDACTED")
			found = true
		}
		b.WriteString(sep)
	}
	if !found {
		return orig, false
	}
	return b.String(), true
}

// harmlessParams are the query parameter names, lower-cased, whose values
// are shown in exported URLs: the native API's filters and paging, and
// the legacy protocol's non-secret parameters. Every other value is masked.
var harmlessParams = map[string]bool{
	"action": true, "status": true, "limit": true, "cursor": true, "page": true,
	"countryiso": true, "servicecode": true, "country": true, "service": true,
	"operator": true, "id": true, "lang": true, "format": true,
}
