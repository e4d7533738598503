package shim

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// clientForwarding are the headers by which a client names itself or the
// host it asked for. They reach the backend only from a trusted proxy.
var clientForwarding = []string{
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
	"X-Forwarded-Server", "X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP",
	"X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For",
}

// handlePassthrough forwards every non-legacy request to the backend origin:
// method, path (as sent, encoded form kept), raw query, headers and body.
// It sets X-Forwarded-For and X-Forwarded-Proto and the trace context;
// forwarding headers sent by the client pass only from a trusted proxy.
// It is bounded: each request has Options.PassthroughTimeout (504 when the
// backend has not answered by then), at most
// Options.PassthroughMaxConcurrent are in flight (more are refused at once
// with 503), TRACE and CONNECT are refused (405) and a query that carries
// an API key is answered here (400) and never forwarded. A request with a
// key of the sandbox lane goes to the lane's origin instead (none: 404).
func (s *Server) handlePassthrough() http.Handler {
	prop := s.opt.Propagator
	rp := s.reverseProxy(s.opt.Origin)
	var laneRP *httputil.ReverseProxy
	if s.opt.Sandbox != nil && s.opt.Sandbox.Origin != nil {
		laneRP = s.reverseProxy(s.opt.Sandbox.Origin)
	}
	tel := s.ptel
	slots := make(chan struct{}, s.opt.PassthroughMaxConcurrent)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		method := boundedMethod(r.Method)
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tel.tracer.Start(ctx, "passthrough "+method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(httpAttrs(r)...))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		sandbox := s.sandboxKey(upstream.HeaderKey(r.Header))
		if sandbox {
			span.SetAttributes(attrSandbox.Bool(true))
		}
		defer func() {
			// Deferred: ReverseProxy panics with http.ErrAbortHandler when
			// the backend's body breaks off, and that request is counted too.
			d := time.Since(start)
			span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
			attrs := []slog.Attr{
				slog.String("trace_id", span.SpanContext().TraceID().String()),
				slog.String("method", method),
				slog.String("path", r.URL.EscapedPath()),
				slog.Int("status", rec.status),
				slog.String("client", s.clientAddr(r).String()),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			}
			if sandbox {
				s.tel.sandboxRequests.Add(ctx, 1, s.tel.attrSets.get(attrAction, "passthrough", attrCode, strconv.Itoa(rec.status)))
				attrs = append(attrs, slog.Bool("sandbox", true))
			} else {
				tel.record(ctx, method, rec.status, d)
			}
			s.log.LogAttrs(ctx, slog.LevelInfo, "pass-through request", attrs...)
		}()
		switch {
		case r.Method == http.MethodTrace || r.Method == http.MethodConnect:
			rec.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			http.Error(rec, "method not allowed", http.StatusMethodNotAllowed)
			return
		case queryHasAPIKey(r.URL.RawQuery):
			// The native API takes the key in a header; in a URL it lands in
			// the access logs of the backend and every balancer on the way.
			http.Error(rec, "api_key is not accepted in the query of this path", http.StatusBadRequest)
			return
		case sandbox && laneRP == nil:
			http.NotFound(rec, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			rec.Header().Set("Retry-After", "1")
			http.Error(rec, "too many pass-through requests", http.StatusServiceUnavailable)
			return
		}
		tel.active.Add(ctx, 1)
		defer tel.active.Add(ctx, -1)
		ctx, cancel := context.WithTimeout(ctx, s.opt.PassthroughTimeout)
		defer cancel()
		to := rp
		if sandbox {
			to = laneRP
		}
		to.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// reverseProxy forwards to origin: the request as sent, with the
// forwarding headers and the trace context.
func (s *Server) reverseProxy(origin *url.URL) *httputil.ReverseProxy {
	prop := s.opt.Propagator
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			pr.Out.Host = origin.Host
			// ReverseProxy drops parameters it cannot parse (";", a bad
			// escape) and re-encodes the rest: forward the query as sent.
			pr.Out.URL.RawQuery = joinQuery(origin.RawQuery, pr.In.URL.RawQuery)
			s.forwarding(pr)
			prop.Inject(pr.Out.Context(), propagation.HeaderCarrier(pr.Out.Header))
		},
		Transport: s.opt.ProxyTransport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			span := trace.SpanFromContext(r.Context())
			status, msg := http.StatusBadGateway, "bad gateway"
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				status, msg = http.StatusGatewayTimeout, "gateway timeout"
			}
			span.SetStatus(codes.Error, msg)
			level := slog.LevelWarn
			if errors.Is(err, http.ErrAbortHandler) || errors.Is(r.Context().Err(), context.Canceled) {
				level = slog.LevelDebug
			}
			// Only the path: the query may hold a secret.
			s.log.LogAttrs(r.Context(), level, "pass-through failed",
				slog.String("method", boundedMethod(r.Method)), slog.String("path", r.URL.EscapedPath()), slog.String("err", redactErr(err)))
			http.Error(w, msg, status)
		},
	}
}

// forwarding sets the forwarding headers of a pass-through request. From a
// trusted proxy, its X-Forwarded-* and Forwarded headers are kept and the
// proxy's address is appended to X-Forwarded-For; from anyone else, every
// client-supplied forwarding header is dropped and X-Forwarded-For is the
// peer alone. X-Forwarded-Host is never made up from the client's Host.
func (s *Server) forwarding(pr *httputil.ProxyRequest) {
	if s.fromTrustedProxy(pr.In) {
		// ReverseProxy has dropped the X-Forwarded-* headers of Out.
		for _, h := range clientForwarding {
			if v := pr.In.Header.Values(h); len(v) > 0 {
				pr.Out.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
		host, proto := pr.Out.Header.Values("X-Forwarded-Host"), pr.Out.Header.Values("X-Forwarded-Proto")
		pr.SetXForwarded() // appends the proxy to X-Forwarded-For
		pr.Out.Header.Del("X-Forwarded-Host")
		if len(host) > 0 {
			pr.Out.Header["X-Forwarded-Host"] = host
		}
		if len(proto) > 0 {
			pr.Out.Header["X-Forwarded-Proto"] = proto
		}
		return
	}
	for _, h := range clientForwarding {
		pr.Out.Header.Del(h)
	}
	if a := s.clientAddr(pr.In); a.IsValid() {
		pr.Out.Header.Set("X-Forwarded-For", a.String())
	}
	pr.Out.Header.Set("X-Forwarded-Proto", scheme(pr.In))
}

func joinQuery(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "&" + b
}

// queryHasAPIKey reports whether a raw query names an API key parameter:
// api_key in any case, encoding or spelling (apikey, api-key), with "&" or
// ";" between parameters.
func queryHasAPIKey(raw string) bool {
	for raw != "" {
		var p string
		i := strings.IndexAny(raw, "&;")
		if i < 0 {
			p, raw = raw, ""
		} else {
			p, raw = raw[:i], raw[i+1:]
		}
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if squash(name) == "apikey" {
			return true
		}
	}
	return false
}

// squash is s lower-cased with everything but ASCII letters and digits
// dropped.
func squash(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// boundedMethod is m when it is one of the methods of RFC 9110 and PATCH,
// else "_OTHER", as OpenTelemetry's HTTP conventions name it, so that junk
// methods cannot mint span names or metric series.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// proxyTelemetry is the pass-through's http.server instruments, by
// OpenTelemetry's HTTP conventions.
type proxyTelemetry struct {
	duration metric.Float64Histogram
	active   metric.Int64UpDownCounter
}

// newProxyTelemetry makes the pass-through's instruments; nil mp records
// nothing.
func newProxyTelemetry(mp metric.MeterProvider) (proxyTelemetry, error) {
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(instrumentation)
	duration, err := m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of pass-through HTTP server requests, by method and status."), requestBuckets)
	if err != nil {
		return proxyTelemetry{}, err
	}
	active, err := m.Int64UpDownCounter("http.server.active_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Pass-through requests in flight to the backend."))
	return proxyTelemetry{duration: duration, active: active}, err
}

func (t proxyTelemetry) record(ctx context.Context, method string, status int, d time.Duration) {
	t.duration.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("http.request.method", method),
		attribute.Int("http.response.status_code", status),
		attribute.String("http.route", "passthrough"),
	))
}

// statusRecorder remembers the status a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushes
// of streamed answers).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
