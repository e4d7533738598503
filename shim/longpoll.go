package shim

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// longPoll is the replica's hub of long-poll waits (getStatus and
// getStatusV2 with wait=<seconds>). The waiters on one activation, keyed by
// owner and native ID, share one poller: one goroutine that asks the
// backend once per interval while anyone waits, and broadcasts each result
// to all of them by closing the channel of its generation. So there is at
// most one native poll per activation per interval on this replica,
// whatever the number of waiters: a waiter never polls itself. A waiter that
// arrives while a result younger than one interval exists takes it as its
// first look; and a poller outlives its last waiter until its next tick,
// keeping its last result for one who comes meanwhile, so that a poller
// started again cannot poll sooner either.
//
// A waiter leaves when its answer stops waiting, when its wait ends, or when
// its request's context is done; the last to leave cancels the poll in
// flight, and the poller ends at its next tick. Beyond maxWaiters waiters,
// or maxPerKey of one owner, a request is not let in: it polls by itself,
// as one without wait.
type longPoll struct {
	api                   NativeAPI
	tel                   *telemetry
	now                   func() time.Time
	after                 func(time.Duration) <-chan time.Time
	interval              time.Duration
	maxWaiters, maxPerKey int

	mu      sync.Mutex
	polls   map[pollKey]*poller
	perKey  map[string]int // waiters by owner
	waiters int
	// ending is closed by end: every wait ends at once, and no new waiter
	// is let in.
	ending chan struct{}
	ended  bool
}

// pollKey is what a poller polls: the owner's activation.
type pollKey struct{ owner, nativeID string }

// poller is one activation's shared poll. Its fields are guarded by the
// hub's mu.
type poller struct {
	key pollKey
	// apiKey is the key of the waiter that started the poller, the
	// owner's: every waiter has the same (the owner is its fingerprint).
	apiKey  string
	waiters int
	// has says there is a result: act or err, from the poll numbered seq
	// (polls are numbered from 1 as they start; started is the last
	// number given) that started at at.
	has          bool
	act          upstream.Activation
	err          error
	at           time.Time
	seq, started uint64
	// floor is the first poll whose result a waiter joining now may take:
	// forget raises it past the polls started before the activation was
	// changed through this replica.
	floor uint64
	// next is closed when the next result is published.
	next chan struct{}
	// cancel cancels the poll in flight; nil between polls.
	cancel context.CancelFunc
}

func newLongPoll(api NativeAPI, tel *telemetry, opt Options) *longPoll {
	return &longPoll{
		api: api, tel: tel, now: opt.Now, after: opt.After, interval: opt.LongPollInterval,
		maxWaiters: opt.LongPollMaxWaiters, maxPerKey: opt.LongPollMaxPerKey,
		polls: map[pollKey]*poller{}, perKey: map[string]int{}, ending: make(chan struct{}),
	}
}

// The outcomes of a long-poll wait, as the span's smsbulk.longpoll.outcome
// names them.
const (
	waitAnswered = "answered"  // the answer stopped waiting (a code, a cancel, an error)
	waitEnded    = "ended"     // the wait ran out: the answer is the last result
	waitOver     = "bound"     // beyond a bound: not let in, polled at once
	waitLeft     = "left"      // the request's context ended first
	waitShutdown = "shut_down" // the server is shutting down: the wait ended early
)

// wait waits at most d for owner's activation nativeID, polled with apiKey,
// to stop waiting (translate.Waiting), and returns the last result and
// the outcome. The outcome waitOver means the caller was not let in and
// must poll by itself.
func (h *longPoll) wait(ctx context.Context, apiKey, owner, nativeID string, d time.Duration) (upstream.Activation, string, error) {
	p, over := h.join(ctx, apiKey, owner, nativeID)
	if p == nil {
		h.tel.longPollOver(ctx, over)
		return upstream.Activation{}, waitOver, nil
	}
	defer h.leave(ctx, p)
	h.mu.Lock()
	floor := p.floor
	seen := p.has && p.seq >= floor && h.now().Sub(p.at) < h.interval
	act, err, next := p.act, p.err, p.next
	h.mu.Unlock()
	if seen && (err != nil || !translate.Waiting(act)) {
		return act, waitAnswered, err
	}
	timer, ending := h.after(d), h.ending
	outcome := ""
	for {
		select {
		case <-next:
			h.mu.Lock()
			seq := p.seq
			act, err, next = p.act, p.err, p.next
			h.mu.Unlock()
			if seq < floor {
				continue // read before the activation was changed
			}
			seen = true
			if err != nil || !translate.Waiting(act) {
				return act, waitAnswered, err
			}
		case <-timer:
			timer, outcome = nil, waitEnded
		case <-ending:
			ending, outcome = nil, waitShutdown
		case <-ctx.Done():
			return upstream.Activation{}, waitLeft, ctx.Err()
		}
		// At the end of the wait the answer is the last result; a waiter
		// that has none yet waits for its first poll, already running (or,
		// after forget, the next one).
		if outcome != "" && seen {
			return act, outcome, nil
		}
	}
}

// join lets a waiter in, starting the activation's poller if it has none,
// or returns nil and the bound that keeps it out.
func (h *longPoll) join(ctx context.Context, apiKey, owner, nativeID string) (*poller, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.ended:
		return nil, boundShutdown
	case h.waiters >= h.maxWaiters:
		return nil, boundTotal
	case h.perKey[owner] >= h.maxPerKey:
		return nil, boundPerKey
	}
	k := pollKey{owner: owner, nativeID: nativeID}
	p := h.polls[k]
	if p == nil {
		p = &poller{key: k, apiKey: apiKey, next: make(chan struct{})}
		h.polls[k] = p
		h.tel.longPollActivations(ctx, 1)
		go h.run(detachedPoll(ctx), p)
	}
	p.waiters++
	h.perKey[owner]++
	h.waiters++
	h.tel.longPollWaiters(ctx, 1)
	return p, ""
}

// The bounds that keep a waiter out, as smsbulk.longpoll.bound names
// them.
const (
	boundTotal    = "total"
	boundPerKey   = "per_key"
	boundShutdown = "shutdown"
)

// leave lets a waiter out. The last waiter of a poller cancels its poll in
// flight: nobody reads it.
func (h *longPoll) leave(ctx context.Context, p *poller) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waiters--
	if h.perKey[p.key.owner]--; h.perKey[p.key.owner] == 0 {
		delete(h.perKey, p.key.owner)
	}
	if p.waiters--; p.waiters == 0 && p.cancel != nil {
		p.cancel()
	}
	h.tel.longPollWaiters(ctx, -1)
}

// run is a poller's goroutine: a poll at once, then one per interval,
// counted from the start of the last, while the poller has waiters. A poll
// that its last waiter abandoned publishes nothing. At a tick with no
// waiter the poller is forgotten and run returns.
func (h *longPoll) run(base context.Context, p *poller) {
	for {
		tick := h.after(h.interval)
		at := h.now()
		ctx, cancel := context.WithCancel(base)
		h.mu.Lock()
		p.cancel = cancel
		p.started++
		seq, waiters := p.started, p.waiters
		h.mu.Unlock()
		act, err := h.poll(ctx, p, waiters)
		h.mu.Lock()
		if err == nil || ctx.Err() == nil {
			p.has, p.act, p.err, p.at, p.seq = true, act, err, at, seq
			close(p.next)
			p.next = make(chan struct{})
		}
		p.cancel = nil
		cancel()
		h.mu.Unlock()

		<-tick
		h.mu.Lock()
		if p.waiters == 0 {
			delete(h.polls, p.key)
			h.mu.Unlock()
			h.tel.longPollActivations(base, -1)
			return
		}
		h.mu.Unlock()
	}
}

// poll is one shared poll: a native get, counted, and traced as a
// "longpoll poll" span of its own (it belongs to no one request).
func (h *longPoll) poll(ctx context.Context, p *poller, waiters int) (upstream.Activation, error) {
	h.tel.longPollPoll(ctx)
	if h.tel.tracing {
		var span trace.Span
		ctx, span = h.tel.tracer.Start(ctx, "longpoll poll", trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attrOwner.String(ShortOwner(p.key.owner)), attrNativeID.String(p.key.nativeID),
				attrLongPollWaiters.Int(waiters)))
		defer span.End()
	}
	return h.api.Activation(ctx, p.apiKey, p.key.nativeID)
}

// forget tells the hub that owner changed the activation nativeID
// (setStatus and the like): a waiter that joins from now on takes no result
// of a poll that started before, and waits for the next poll instead. It
// makes no poll.
func (h *longPoll) forget(owner, nativeID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.polls[pollKey{owner: owner, nativeID: nativeID}]; p != nil {
		p.floor = p.started + 1
	}
}

// end ends every wait now (each answers its last result) and lets no new
// waiter in: what a shutdown does, so that draining does not wait for them.
func (h *longPoll) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ended {
		h.ended = true
		close(h.ending)
	}
}

// counts is the number of waiters and of activations being polled.
func (h *longPoll) counts() (waiters, activations int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiters, len(h.polls)
}

// detachedPoll is the context of a poller's polls, made from the request
// that started it: its values without its cancellation, deadline, record or
// span, since the polls serve every waiter and outlive that request.
func detachedPoll(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(pollContext{context.WithoutCancel(ctx)}, trace.SpanContext{})
}

// pollContext hides the legacy request's record.
type pollContext struct{ context.Context }

func (c pollContext) Value(key any) any {
	switch key.(type) {
	case recordKey, baseKey:
		return nil
	}
	return c.Context.Value(key)
}
