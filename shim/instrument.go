package shim

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// record is what the protocol core tells the instrumentation layer about one
// legacy request. The core fills it as it goes (it travels in the request's
// context, as tsweb's AccessLogRecord and otelhttp's Labeler do); the layer
// turns it into the span's name and attributes, the metrics and the access
// line, once, when the core has answered. Only the request's goroutine
// writes its fields, except nativeCalls.
type record struct {
	// action names the span and the metric series: one of the known
	// actions, or "unknown" so that junk cannot mint names.
	action string
	// code is the legacy result code sent, status the HTTP status, and
	// err the error behind them.
	code   string
	status int
	err    error

	owner      string
	legacyID   int64
	nativeID   string
	country    *int // the legacy country ID, when the request named one
	countryISO string
	service    string
	// sandbox marks a request of the sandbox lane (Options.Sandbox).
	sandbox bool
	// wait is a long-poll's wait (0 for none) and waitOutcome how it
	// ended (see longPoll.wait).
	wait        time.Duration
	waitOutcome string

	nativeCalls atomic.Int64
}

// recordKey finds a request's record, and baseKey the recordContext it is
// in (see withWait).
type (
	recordKey struct{}
	baseKey   struct{}
)

// recordContext carries a request's record: context.WithValue with the
// record in the same allocation.
type recordContext struct {
	context.Context
	rec record
}

// Value is the record for recordKey, c for baseKey, and the parent's value
// for any other key.
func (c *recordContext) Value(key any) any {
	switch key.(type) {
	case recordKey:
		return &c.rec
	case baseKey:
		return c
	}
	return c.Context.Value(key)
}

// withWait is ctx with the deadline of a long-poll request that waits up
// to wait: Options.RequestTimeout plus wait from now, instead of the
// RequestTimeout the instrumentation layer gave it, so that a poll running
// when the wait ends is not cut off. It is made from the layer's context
// (record, span and the client's cancellation, without the deadline).
func (s *Server) withWait(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	base, ok := ctx.Value(baseKey{}).(*recordContext)
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(base, s.opt.RequestTimeout+wait)
}

// recordFrom is the record of the legacy request ctx belongs to, or nil
// outside one (the Reconciler, background warm-ups). Every method of
// *record is a no-op on nil.
func recordFrom(ctx context.Context) *record {
	r, _ := ctx.Value(recordKey{}).(*record)
	return r
}

// countNativeCall counts one native call of the request ctx belongs to.
func countNativeCall(ctx context.Context) {
	if r := recordFrom(ctx); r != nil {
		r.nativeCalls.Add(1)
	}
}

// setAction names the request after its action when it is a known one.
func (r *record) setAction(a translate.Action) {
	if r != nil && a.Known() {
		r.action = string(a)
	}
}

func (r *record) setOwner(owner string) {
	if r != nil {
		r.owner = owner
	}
}

func (r *record) setSandbox(on bool) {
	if r != nil {
		r.sandbox = on
	}
}

func (r *record) setCountry(id int, iso string) {
	if r != nil {
		r.country, r.countryISO = &id, iso
	}
}

func (r *record) setService(code string) {
	if r != nil {
		r.service = code
	}
}

func (r *record) setLegacyID(id int64) {
	if r != nil {
		r.legacyID = id
	}
}

func (r *record) setNativeID(id string) {
	if r != nil {
		r.nativeID = id
	}
}

func (r *record) setWait(wait time.Duration, outcome string) {
	if r != nil {
		r.wait, r.waitOutcome = wait, outcome
	}
}

// instrument is the layer around the legacy protocol core: it reads the
// incoming trace context, starts the server span, gives the request its
// deadline and its record, and when the core has answered, turns the
// record into span attributes, metrics and one access line. Work whose
// result nobody reads is skipped: no span without a tracer provider, no
// span attributes on a span that does not record, no measurement without
// a meter provider.
func (s *Server) instrument(core coreHandler) http.Handler {
	prop := s.opt.Propagator
	profile := attrProfile.String(s.opt.Profile.String())
	fields := slices.Clone(prop.Fields())
	for i, f := range fields {
		fields[i] = http.CanonicalHeaderKey(f)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		// Most polls carry no trace context; looking for it costs a
		// header key made canonical per field and call.
		for _, f := range fields {
			if _, ok := r.Header[f]; ok {
				ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
				break
			}
		}
		span := trace.SpanFromContext(ctx)
		if s.tel.tracing {
			ctx, span = s.tel.tracer.Start(ctx, "handler_api", trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(profile), trace.WithAttributes(httpAttrs(r)...))
			defer span.End()
		}
		rc := &recordContext{Context: ctx, rec: record{action: "unknown"}}
		rec := &rc.rec
		ctx, cancel := context.WithTimeout(rc, s.opt.RequestTimeout)
		defer cancel()
		if s.tel.metered {
			s.tel.inFlight.Add(ctx, 1)
			defer s.tel.inFlight.Add(ctx, -1)
		}

		core(ctx, w, r)

		if span.IsRecording() {
			if rec.action != "unknown" {
				span.SetName(rec.action)
			}
			span.SetAttributes(rec.attributes()...)
			if failed(rec.code) {
				span.SetStatus(codes.Error, statusText(rec.code, rec.err))
			}
		}
		d := time.Since(start)
		switch {
		case !s.tel.metered:
		case rec.sandbox:
			s.tel.sandboxRequests.Add(ctx, 1, s.tel.attrSets.get(attrAction, rec.action, attrCode, rec.code))
		default:
			s.tel.requests.Add(ctx, 1, s.tel.attrSets.get(attrAction, rec.action, attrCode, rec.code))
			s.tel.duration.Record(ctx, d.Seconds(), s.tel.attrSets.get(attrAction, rec.action, "", ""))
		}
		s.accessLine(ctx, r, span.SpanContext().TraceID(), rec, start.Add(d), d)
	})
}

// zeroTraceID is the trace_id of a request outside any trace.
var zeroTraceID = trace.TraceID{}.String()

// accessLine logs one line for a legacy request: what was asked and
// answered, by whom (the owner's short hash; never the key, and never the
// URL, whose query holds it) and from where (the client address, behind
// Options.TrustedProxies), at the time end. It goes to the logger's
// handler straight away, without the source position that Logger would
// look up on the stack for every poll (it would always be this function).
func (s *Server) accessLine(ctx context.Context, r *http.Request, traceID trace.TraceID, rec *record, end time.Time, d time.Duration) {
	h := s.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	tid := zeroTraceID
	if traceID.IsValid() {
		tid = traceID.String()
	}
	attrs := [...]slog.Attr{
		slog.String("trace_id", tid),
		slog.String("action", rec.action),
		slog.String("code", rec.code),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("native_calls", rec.nativeCalls.Load()),
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", rec.status),
		slog.String("client", s.client(r)),
		slog.String("owner", ShortOwner(rec.owner)),
		// Written only when set: legacy_id, wait and sandbox.
		slog.Int64("legacy_id", rec.legacyID),
		slog.Float64("wait", rec.wait.Seconds()),
		slog.Bool("sandbox", true),
	}
	n := len(attrs) - 3
	for i, set := range [...]bool{rec.legacyID != 0, rec.wait > 0, rec.sandbox} {
		if set {
			attrs[n] = attrs[len(attrs)-3+i]
			n++
		}
	}
	if s.alog != nil && s.alog.write(end, "legacy request", attrs[:n]) {
		return
	}
	line := slog.NewRecord(end, slog.LevelInfo, "legacy request", 0)
	line.AddAttrs(attrs[:n]...)
	_ = h.Handle(ctx, line)
}

// client is the client address of the access line: ClientAddr with the
// trusted proxies, or RemoteAddr as it is when that is not an address.
func (s *Server) client(r *http.Request) string {
	a := s.clientAddr(r)
	if !a.IsValid() {
		return r.RemoteAddr
	}
	// Most often the client is the peer, written in RemoteAddr as String
	// would write it: that substring costs no allocation.
	var buf [64]byte
	if host := peerHost(r.RemoteAddr); host == string(a.AppendTo(buf[:0])) {
		return host
	}
	return a.String()
}

// peerHost is the address part of a RemoteAddr "host:port" or
// "[host]:port".
func peerHost(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return ""
	}
	host := remote[:i]
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host
}

// attributes are the span attributes the record holds.
func (r *record) attributes() []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 8)
	if r.action != "unknown" {
		a = append(a, attrAction.String(r.action))
	}
	a = append(a, attrCode.String(r.code))
	if r.owner != "" {
		a = append(a, attrOwner.String(ShortOwner(r.owner)))
	}
	if r.country != nil {
		a = append(a, attrCountryID.Int(*r.country), attrCountryISO.String(r.countryISO))
	}
	if r.service != "" {
		a = append(a, attrService.String(r.service))
	}
	if r.legacyID != 0 {
		a = append(a, attrLegacyID.Int64(r.legacyID))
	}
	if r.nativeID != "" {
		a = append(a, attrNativeID.String(r.nativeID))
	}
	if r.sandbox {
		a = append(a, attrSandbox.Bool(true))
	}
	if r.wait > 0 {
		a = append(a, attrLongPollWait.Float64(r.wait.Seconds()), attrLongPollOutcome.String(r.waitOutcome))
	}
	return a
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

// name is what the request is called in the writer's log lines.
func (r *record) name() string {
	if r == nil {
		return "unknown"
	}
	return r.action
}

// setResult records the legacy code and HTTP status sent and the error
// behind them.
func (r *record) setResult(code string, status int, err error) {
	if r != nil {
		r.code, r.status, r.err = code, status, err
	}
}
