package shim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// Limits bounds what one legacy request may carry. A request over a limit
// is answered BAD_ACTION (a malformed request, in the page's words) and
// reaches nothing behind the shim. Zero fields take the defaults.
type Limits struct {
	// MaxQueryBytes bounds the raw query string. Default 4096.
	MaxQueryBytes int
	// MaxBodyBytes bounds a POST body. Default 64 KiB.
	MaxBodyBytes int64
	// MaxParams bounds the number of parameter values, query and body
	// together. Default 64.
	MaxParams int
	// MaxParamBytes bounds one parameter's name or value. Default 1024.
	MaxParamBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxQueryBytes <= 0 {
		l.MaxQueryBytes = 4096
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 64 << 10
	}
	if l.MaxParams <= 0 {
		l.MaxParams = 64
	}
	if l.MaxParamBytes <= 0 {
		l.MaxParamBytes = 1024
	}
	return l
}

// action runs one legacy action and returns the exact answer body, or an
// error that the writer turns into the legacy code.
type action func(context.Context, translate.Request) ([]byte, error)

// handleLegacy serves the legacy endpoint: parameters from the query string
// and then the form body, validation, the action, and one writer.
func (s *Server) handleLegacy() http.Handler {
	actions := map[translate.Action]action{
		translate.GetBalance:       s.getBalance,
		translate.GetNumber:        s.getNumber,
		translate.GetStatus:        s.getStatus,
		translate.SetStatus:        s.setStatus,
		translate.GetNumbersStatus: s.getNumbersStatus,
		translate.GetPrices:        s.getPrices,
		translate.GetCountries:     s.getCountries,
	}
	prop := s.opt.Propagator
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// GET and POST, as the original. HEAD is refused too: it must not
		// have effects, and a HEAD getNumber would buy a number.
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		start := time.Now()
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tel.tracer.Start(ctx, "handler_api", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attrProfile.String(s.opt.Profile.String())),
			trace.WithAttributes(httpAttrs(r)...))
		defer span.End()
		st := &requestState{}
		ctx = context.WithValue(ctx, stateKey{}, st)
		ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
		defer cancel()
		s.tel.inFlight.Add(ctx, 1)
		defer s.tel.inFlight.Add(ctx, -1)

		req, err := s.parse(r)
		// The span and the metrics are named after the action when it is one
		// of the seven, even when the request is refused (a getNumber
		// without a key is still a getNumber); anything else is "unknown",
		// so that junk cannot mint span names or metric series.
		name := "unknown"
		if err == nil && req.Action.Known() {
			name = string(req.Action)
			span.SetName(name)
			span.SetAttributes(attrAction.String(name))
		}
		var body []byte
		if err == nil {
			if lerr := translate.CheckAction(req, s.opt.Profile); lerr != nil {
				err = lerr
			}
		}
		if err == nil {
			st.owner = s.opt.Keys.Owner(req.APIKey)
			span.SetAttributes(attrOwner.String(ShortOwner(st.owner)))
			body, err = actions[req.Action](ctx, req)
		}
		code := s.write(ctx, w, r, name, body, err)
		span.SetAttributes(attrCode.String(code))
		if failed(code) {
			span.SetStatus(codes.Error, statusText(code, err))
		}
		d := time.Since(start)
		attrs := metric.WithAttributes(attrAction.String(name), attrCode.String(code))
		s.tel.requests.Add(ctx, 1, attrs)
		s.tel.duration.Record(ctx, d.Seconds(), metric.WithAttributes(attrAction.String(name)))
		s.log.LogAttrs(ctx, slog.LevelInfo, "legacy request",
			slog.String("trace_id", span.SpanContext().TraceID().String()),
			slog.String("action", name),
			slog.String("code", code),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int64("native_calls", st.nativeCalls.Load()),
		)
	})
}

// requestState is what one legacy request keeps while it runs.
type requestState struct {
	nativeCalls atomic.Int64
	// owner is the fingerprint of the request's API key, computed once.
	owner string
}

type stateKey struct{}

// owner is the fingerprint of key, taken from the request's state when the
// handler already computed it.
func (s *Server) owner(ctx context.Context, key string) string {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok && st.owner != "" {
		return st.owner
	}
	return s.opt.Keys.Owner(key)
}

func countNativeCall(ctx context.Context) {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		st.nativeCalls.Add(1)
	}
}

// parse reads the legacy parameters: the query string first, then a form
// body (urlencoded or multipart) on POST. Limits are checked here; an over
// limit request is BAD_ACTION.
func (s *Server) parse(r *http.Request) (translate.Request, error) {
	lim := s.opt.Limits
	malformed := &translate.Error{Code: translate.BadAction}
	if len(r.URL.RawQuery) > lim.MaxQueryBytes {
		return translate.Request{}, malformed
	}
	query := parseParams(r.URL.RawQuery)
	sources := []url.Values{query}
	if r.Method == http.MethodPost && r.Body != nil {
		form, err := s.readForm(r)
		if err != nil {
			return translate.Request{}, malformed
		}
		if form != nil {
			sources = append(sources, form)
		}
	}
	n := 0
	for _, src := range sources {
		for k, vs := range src {
			n += len(vs)
			if n > lim.MaxParams || len(k) > lim.MaxParamBytes {
				return translate.Request{}, malformed
			}
			for _, v := range vs {
				if len(v) > lim.MaxParamBytes {
					return translate.Request{}, malformed
				}
			}
		}
	}
	req := translate.ParseRequest(sources...)
	if !validKey(req.APIKey) {
		req.APIKey = ""
	}
	return req, nil
}

// parseParams reads an urlencoded query or form body as PHP does: pairs are
// split on "&" only (a ";" is part of the value), "+" is a space, and a "%"
// not followed by two hex digits stays as it is. No pair is ever dropped:
// url.ParseQuery drops a pair with a ";" or a bad escape, which would turn
// "maxPrice=0.10;x" into no price limit and "country=62;x" into the default
// country, instead of the BAD_ACTION and BAD_COUNTRY such values get.
func parseParams(s string) url.Values {
	v := url.Values{}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = unescapeParam(name)
		v[name] = append(v[name], unescapeParam(value))
	}
	return v
}

// unescapeParam decodes "+" and valid %XX escapes and keeps everything else.
func unescapeParam(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// validKey reports whether an API key can be sent on: 1 to 256 printable
// ASCII characters. Anything else is answered BAD_KEY without a native call.
func validKey(k string) bool {
	if len(k) == 0 || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}

// readForm reads a POST body as a form: urlencoded or multipart, bounded by
// Limits.MaxBodyBytes. Other content types are not read (nil, nil).
func (s *Server) readForm(r *http.Request) (url.Values, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil
	}
	body := http.MaxBytesReader(nil, r.Body, s.opt.Limits.MaxBodyBytes)
	switch ct {
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		return parseParams(string(b)), nil
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, errors.New("multipart without boundary")
		}
		r.Body = body
		if err := r.ParseMultipartForm(s.opt.Limits.MaxBodyBytes); err != nil {
			return nil, err
		}
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
			return url.Values(r.MultipartForm.Value), nil
		}
	}
	return nil, nil
}

// write is the one writer: it sends the body of an action, or the legacy
// code of its error. It is the one place where errors become legacy codes
// (translate.Classify's table); an error outside the table is ERROR_SQL and
// is logged here, once. It returns the legacy result code sent.
func (s *Server) write(ctx context.Context, w http.ResponseWriter, r *http.Request, action string, body []byte, err error) string {
	h := w.Header()
	status := http.StatusOK
	if err != nil {
		e, known := translate.Classify(err)
		if !known || e.Code == translate.ErrorSQL {
			level := slog.LevelWarn
			if !known {
				level = slog.LevelError
			}
			s.log.LogAttrs(ctx, level, "legacy request failed",
				slog.String("action", action), slog.String("code", string(e.Code)), slog.String("err", err.Error()))
		}
		if e.Code == translate.RateLimited {
			secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
			if secs <= 0 {
				secs = 60
			}
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		body, status = e.Body(), e.Code.Status(s.opt.Profile)
	}
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return resultCode(body)
}

// httpAttrs are the server span's HTTP attributes. The query string is
// never among them: it carries the API key.
func httpAttrs(r *http.Request) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.EscapedPath()),
		attribute.String("url.scheme", scheme(r)),
		attribute.String("user_agent.original", r.UserAgent()),
	}
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
