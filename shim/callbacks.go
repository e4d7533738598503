package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/callback"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// Callbacks delivers the events of the activations bought with a callback
// (getNumber's callback parameter). The native API has no webhooks, so
// the watcher (RunWatcher) polls each such activation with the bot's key,
// unsealed from its watch, every PollEvery; a change of state becomes an
// event, signed with that key, appended to the outbox in the same store
// transaction that records the new state, so that no crash loses or
// doubles one. The deliverer (RunDeliverer) POSTs each event until the
// receiver answers 2xx, with exponential backoff for RetryFor, then gives
// it up (dead). Every replica may run both: the store leases each watch
// and each event to one of them at a time. Delivery is at least once: a
// replica killed after the POST and before recording it leaves the event
// to be sent again; receivers dedup by event ID.
type Callbacks struct {
	log  *slog.Logger
	api  NativeAPI
	ids  IDStore
	keys *Keys
	post Poster
	opt  CallbackOptions
	tel  *telemetry
}

// Poster sends one event: a POST of body to url with the headers h, within
// its own deadline, returning the answer's status. *callback.Client
// implements it, safely for any URL.
type Poster interface {
	Post(ctx context.Context, url string, body []byte, h http.Header) (int, error)
}

var _ Poster = (*callback.Client)(nil)

// CallbackOptions tunes Callbacks.
type CallbackOptions struct {
	// Poster sends the events. nil uses a callback.Client with Timeout
	// that refuses private addresses.
	Poster Poster
	// PollEvery is the pause between two native polls of one watched
	// activation (SHIM_CALLBACK_POLL_EVERY). Default 5s.
	PollEvery time.Duration
	// Every is the pause between two looks for due watches, and for due
	// events. Default 1s.
	Every time.Duration
	// Timeout is the longest one delivery attempt takes, the Poster's
	// bound (SHIM_CALLBACK_TIMEOUT), from which the events' leases are
	// made. Default 10s.
	Timeout time.Duration
	// RetryFor is how long an event is retried after it was seen; the
	// first failed attempt after that makes it dead
	// (SHIM_CALLBACK_RETRY_FOR). Default 24h.
	RetryFor time.Duration
	// RetryMin and RetryMax bound the pause after a failed attempt: RetryMin
	// after the first, doubling, at most RetryMax, each with up to half of
	// it taken off at random (SHIM_CALLBACK_RETRY_MIN, _MAX). Default 1s
	// and 10m.
	RetryMin, RetryMax time.Duration
	// WatchFor is how long an activation is watched at most: one that has
	// not ended by then gets no more events. Default 24h.
	WatchFor time.Duration
	// CallTimeout bounds one native poll. Default 10s.
	CallTimeout time.Duration
	// Batch is how many watches, or events, one claim takes. Default 16.
	Batch int
	// Concurrency is how many polls, or attempts, run at once. Default 8.
	Concurrency int
	// API is the native API the watcher polls for the backend's keys
	// (the sandbox lane's keys go to Options.Sandbox). nil uses the
	// Server's. Give it a client with its own circuit breaker, as the
	// Reconciler's, so that background polls of a degraded backend
	// neither open the breaker live requests go through nor are refused
	// by it.
	API NativeAPI
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// storeBudget is what one claimed item is given, besides its native call
// or POST, for its store calls.
const storeBudget = 5 * time.Second

// NewCallbacks makes Callbacks that share the Server's native API (or
// opt.API), store, keys and telemetry.
func (s *Server) NewCallbacks(opt CallbackOptions) *Callbacks {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.PollEvery, 5*time.Second)
	def(&opt.Every, time.Second)
	def(&opt.Timeout, 10*time.Second)
	def(&opt.RetryFor, 24*time.Hour)
	def(&opt.RetryMin, time.Second)
	def(&opt.RetryMax, 10*time.Minute)
	def(&opt.WatchFor, 24*time.Hour)
	def(&opt.CallTimeout, 10*time.Second)
	if opt.Batch <= 0 {
		opt.Batch = 16
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Poster == nil {
		opt.Poster = callback.New(callback.Options{Timeout: opt.Timeout})
	}
	api := s.api
	if opt.API != nil {
		api = s.withLane(s.tel.nativeAPI(opt.API))
	}
	return &Callbacks{log: s.log, api: api, ids: s.ids, keys: s.opt.Keys, post: opt.Poster, opt: opt, tel: s.tel}
}

// newWatch is the watch a purchase with callback journals with its row,
// holding the sealed intent (for its key); nil for no callback.
func newWatch(callback string, sealed []byte) *idmap.Watch {
	if callback == "" {
		return nil
	}
	st, _ := watchState(upstream.Activation{Status: upstream.StatusWaiting})
	return &idmap.Watch{URL: callback, Key: sealed, State: st}
}

// watchState is what a watch remembers of an activation: its native
// status and its getStatus answer. An event is a change of either.
func watchState(a upstream.Activation) (string, error) {
	body, err := translate.StatusBody(a)
	if err != nil {
		return "", err
	}
	return string(a.Status) + " " + string(body), nil
}

// ended reports whether an activation in st gets no more events.
func ended(st upstream.Status) bool {
	return st == upstream.StatusCompleted || st.Refunded()
}

// eventKind names what happened, for receivers: the event's "event".
func eventKind(st upstream.Status) string {
	switch st {
	case upstream.StatusReceived:
		return "code"
	case upstream.StatusRetryWaiting:
		return "retry"
	case upstream.StatusCompleted:
		return "finished"
	case upstream.StatusCancelled, upstream.StatusRefunded:
		return "cancelled"
	case upstream.StatusExpired:
		return "expired"
	}
	return "waiting"
}

// eventBody is the JSON an event carries.
type eventBody struct {
	EventID      string `json:"event_id"`
	ActivationID int64  `json:"activation_id"`
	Event        string `json:"event"`
	Status       string `json:"status"`
	Code         string `json:"code"`
	Final        bool   `json:"final"`
	Time         string `json:"time"`
}

// eventID is the ID of an activation's seq-th event: the same for a poll
// replayed after a lost lease, unique since legacy IDs are never reused.
func eventID(legacyID int64, seq int) string { return fmt.Sprintf("%d-%d", legacyID, seq) }

// RunWatcher polls due watches until ctx is done, a round at once and then
// one every Every. It returns ctx.Err().
func (c *Callbacks) RunWatcher(ctx context.Context) error {
	return c.loop(ctx, "callback watch round failed", c.WatchRound)
}

// RunDeliverer delivers due events until ctx is done, a round at once and
// then one every Every. It returns ctx.Err().
func (c *Callbacks) RunDeliverer(ctx context.Context) error {
	return c.loop(ctx, "callback delivery round failed", c.DeliverRound)
}

func (c *Callbacks) loop(ctx context.Context, msg string, round func(context.Context) (int, error)) error {
	t := time.NewTicker(c.opt.Every)
	defer t.Stop()
	for {
		if _, err := round(ctx); err != nil && ctx.Err() == nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// lease is how long a claim of Batch items, each taking up to budget, run
// Concurrency at a time, must hold, so that no slow batch outlives it.
func (c *Callbacks) lease(budget time.Duration) time.Duration {
	turns := (c.opt.Batch + c.opt.Concurrency - 1) / c.opt.Concurrency
	return time.Duration(turns+1) * budget
}

// rounds claims batches with claim and works each item with work,
// Concurrency at a time, until a batch comes back short, and returns how
// many items it worked. An item is started only while its claim outlasts
// its budget; the rest are left for the next claim.
func rounds[T any](ctx context.Context, c *Callbacks, budget time.Duration,
	claim func(ctx context.Context, lease time.Duration, limit int) ([]T, error), work func(context.Context, T),
) (int, error) {
	done := 0
	lease := c.lease(budget)
	for {
		claimed := c.opt.Now()
		items, err := claim(ctx, lease, c.opt.Batch)
		if err != nil {
			return done, err
		}
		last := claimed.Add(lease - budget)
		var wg sync.WaitGroup
		slots := make(chan struct{}, c.opt.Concurrency)
		started := 0
		for _, it := range items {
			slots <- struct{}{}
			if ctx.Err() != nil || c.opt.Now().After(last) {
				<-slots
				break
			}
			started++
			wg.Go(func() {
				defer func() { <-slots }()
				work(ctx, it)
			})
		}
		wg.Wait()
		done += started
		if len(items) < c.opt.Batch || started == 0 {
			return done, nil
		}
	}
}

// WatchRound polls every watch that is due now and returns how many it
// polled.
func (c *Callbacks) WatchRound(ctx context.Context) (int, error) {
	return rounds(ctx, c, c.opt.CallTimeout+storeBudget, c.ids.DueWatches, c.poll)
}

// DeliverRound makes one attempt at every event that is due now and
// returns how many it attempted.
func (c *Callbacks) DeliverRound(ctx context.Context) (int, error) {
	return rounds(ctx, c, c.opt.Timeout+storeBudget, c.ids.DueEvents, c.deliver)
}

// poll reads one watched activation and records what it finds.
func (c *Callbacks) poll(ctx context.Context, w idmap.WatchClaim) {
	ctx, span := c.tel.tracer.Start(ctx, "callback watch", trace.WithAttributes(attrLegacyID.Int64(w.LegacyID), attrOwner.String(ShortOwner(w.Owner))))
	defer span.End()
	log := c.log.With(slog.Int64("legacy_id", w.LegacyID), slog.String("owner", ShortOwner(w.Owner)))
	now := c.opt.Now()
	in, err := c.keys.open(w.Owner, w.Key)
	if err != nil {
		// Sealed under another secret: nobody can poll it.
		log.LogAttrs(ctx, slog.LevelError, "callback watch cannot be opened; it gets no events", slog.String("err", err.Error()))
		c.record(ctx, log, idmap.WatchUpdate{LegacyID: w.LegacyID, Seq: w.Seq, End: true})
		return
	}
	if now.Sub(w.CreatedAt) > c.opt.WatchFor {
		log.LogAttrs(ctx, slog.LevelWarn, "activation watched for too long; its callback gets no more events",
			slog.Duration("watched_for", c.opt.WatchFor))
		c.record(ctx, log, idmap.WatchUpdate{LegacyID: w.LegacyID, Seq: w.Seq, End: true})
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, c.opt.CallTimeout)
	act, err := c.api.Activation(callCtx, in.APIKey, w.NativeID)
	cancel()
	next := now.Add(c.opt.PollEvery)
	if errors.Is(err, &upstream.APIError{Status: http.StatusNotFound}) {
		log.LogAttrs(ctx, slog.LevelWarn, "watched activation is gone from the backend; its callback gets no more events")
		c.record(ctx, log, idmap.WatchUpdate{LegacyID: w.LegacyID, Seq: w.Seq, End: true})
		return
	}
	var st string
	if err == nil {
		st, err = watchState(act)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		log.LogAttrs(ctx, slog.LevelDebug, "polling a watched activation failed; will retry", slog.String("err", err.Error()))
		c.record(ctx, log, idmap.WatchUpdate{LegacyID: w.LegacyID, Seq: w.Seq, State: w.State, NextPoll: next})
		return
	}
	if st == w.State {
		c.record(ctx, log, idmap.WatchUpdate{LegacyID: w.LegacyID, Seq: w.Seq, State: st, NextPoll: next})
		return
	}
	status, _ := translate.StatusBody(act)
	_, code, _ := strings.Cut(string(status), ":")
	seq := w.Seq + 1
	ev := eventBody{
		EventID: eventID(w.LegacyID, seq), ActivationID: w.LegacyID, Event: eventKind(act.Status),
		Status: string(status), Code: code, Final: ended(act.Status), Time: now.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	body, err := json.Marshal(ev)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "making a callback event", slog.String("err", err.Error()))
		return
	}
	// The signature is made now, while the key is open; the outbox keeps
	// it, never the key.
	e := &idmap.Event{ID: ev.EventID, LegacyID: w.LegacyID, URL: w.URL, Body: body, Signature: callback.Sign(body, in.APIKey)}
	if c.record(ctx, log, idmap.WatchUpdate{LegacyID: w.LegacyID, Seq: w.Seq, State: st, Event: e, End: ev.Final, NextPoll: next}) {
		c.tel.callbackEvent(ctx, ev.Event)
		span.SetAttributes(attrCallbackEvent.String(ev.Event))
	}
}

// record applies u and reports whether it did.
func (c *Callbacks) record(ctx context.Context, log *slog.Logger, u idmap.WatchUpdate) bool {
	err := c.ids.RecordWatch(ctx, u)
	switch {
	case err == nil:
		return true
	case errors.Is(err, idmap.ErrWatchMoved):
		// Another replica polled it after this one's lease ran out; its
		// record stands.
		log.LogAttrs(ctx, slog.LevelDebug, "callback watch moved on meanwhile")
	case ctx.Err() == nil:
		log.LogAttrs(ctx, slog.LevelWarn, "recording a callback watch failed; it is polled again", slog.String("err", err.Error()))
	}
	return false
}

// deliver makes one attempt at e and records its outcome.
func (c *Callbacks) deliver(ctx context.Context, e idmap.DueEvent) {
	target := callback.TargetOf(e.URL)
	ctx, span := c.tel.tracer.Start(ctx, "callback deliver", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrLegacyID.Int64(e.LegacyID), attrCallbackEventID.String(e.ID),
			attrCallbackAttempt.Int(e.Attempts), attrCallbackTarget.String(target)))
	defer span.End()
	status, err := c.post.Post(ctx, e.URL, e.Body, http.Header{
		"X-Shim-Event-Id":  {e.ID},
		"X-Shim-Signature": {e.Signature},
	})
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if err == nil && status >= 200 && status < 300 {
		span.SetAttributes(attrOutcome.String("delivered"))
		c.tel.callbackAttempt(ctx, "delivered")
		c.settle(ctx, e, idmap.Delivered, time.Time{})
		return
	}
	if err == nil {
		err = fmt.Errorf("the receiver answered HTTP %d", status)
	}
	span.SetStatus(codes.Error, err.Error())
	c.tel.callbackAttempt(ctx, "failed")
	now := c.opt.Now()
	log := c.log.With(slog.Int64("legacy_id", e.LegacyID), slog.String("event_id", e.ID), slog.String("target", target),
		slog.Int("attempt", e.Attempts))
	if now.Sub(e.CreatedAt) >= c.opt.RetryFor {
		span.SetAttributes(attrOutcome.String("dead"))
		c.tel.callbackDead(ctx)
		log.LogAttrs(ctx, slog.LevelError, "callback event given up", slog.Duration("retried_for", c.opt.RetryFor), slog.String("err", err.Error()))
		c.settle(ctx, e, idmap.Dead, time.Time{})
		return
	}
	span.SetAttributes(attrOutcome.String("failed"))
	next := now.Add(c.backoff(e.Attempts))
	log.LogAttrs(ctx, slog.LevelInfo, "callback attempt failed; will retry", slog.Time("next_attempt", next), slog.String("err", err.Error()))
	c.settle(ctx, e, idmap.Retry, next)
}

func (c *Callbacks) settle(ctx context.Context, e idmap.DueEvent, o idmap.Outcome, next time.Time) {
	if err := c.ids.SettleEvent(ctx, e.ID, o, next); err != nil && ctx.Err() == nil {
		// The claim runs out and the event is attempted again.
		c.log.LogAttrs(ctx, slog.LevelWarn, "recording a callback attempt failed; it is made again",
			slog.Int64("legacy_id", e.LegacyID), slog.String("event_id", e.ID), slog.String("err", err.Error()))
	}
}

// backoff is the pause after the attempt-th failed attempt: RetryMin
// doubled attempt-1 times, at most RetryMax, less up to half at random.
func (c *Callbacks) backoff(attempt int) time.Duration {
	d := c.opt.RetryMin
	for i := 1; i < attempt && d < c.opt.RetryMax; i++ {
		d *= 2
	}
	d = min(d, c.opt.RetryMax)
	return d - time.Duration(rand.Int64N(int64(d/2)+1))
}
