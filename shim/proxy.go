package shim

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// handlePassthrough forwards every non-legacy request to the backend origin
// unchanged: method, path (as sent, encoded form kept), query, headers and
// body. It adds the X-Forwarded-* headers and the trace context.
func (s *Server) handlePassthrough() http.Handler {
	origin := s.opt.Origin
	prop := s.opt.Propagator
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			pr.Out.Host = origin.Host
			pr.SetXForwarded()
			prop.Inject(pr.Out.Context(), propagation.HeaderCarrier(pr.Out.Header))
		},
		Transport: s.opt.ProxyTransport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			span := trace.SpanFromContext(r.Context())
			span.SetStatus(codes.Error, "backend unreachable")
			level := slog.LevelWarn
			if errors.Is(err, http.ErrAbortHandler) {
				level = slog.LevelDebug
			}
			// Only the path: the query may hold an API key.
			s.log.LogAttrs(r.Context(), level, "pass-through failed",
				slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()), slog.String("err", redactErr(err)))
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tel.tracer.Start(ctx, "passthrough "+r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(httpAttrs(r)...))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
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
