package shim

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// Reconciler settles purchases whose request never finished: the shim was
// killed between journaling and committing, the backend's answer was lost,
// or a refund failed. For each pending row older than After it replays the
// purchase with the same Idempotency-Key (the backend answers with the
// purchase it made, or makes it now), cancels it for a refund, and voids the
// row. The bot never got that legacy ID, so nothing is lost to it; the
// money comes back. Several replicas may run one each: the store leases
// every row to one of them at a time, for long enough to settle the whole
// batch it claimed, and a row whose lease could run out before it is
// settled is left for the next claim.
type Reconciler struct {
	log  *slog.Logger
	api  NativeAPI
	ids  IDStore
	keys *Keys
	opt  ReconcileOptions
	tel  *telemetry
}

// ReconcileOptions tunes a Reconciler.
type ReconcileOptions struct {
	// After is how old a pending row must be before it is settled; it must
	// exceed the longest a request can take. Default 2m.
	After time.Duration
	// Every is the pause between rounds. Default 30s.
	Every time.Duration
	// Lease is the least time one replica holds a row it claimed. The
	// lease used is at least what settling a whole batch may take (the
	// batch's rows in turns of Concurrency, each up to three calls of
	// CallTimeout), so that no slow batch outlives it. Default 1m.
	Lease time.Duration
	// Batch is how many rows a round claims. Default 50.
	Batch int
	// Concurrency is how many rows are settled at once. Default 8.
	Concurrency int
	// CallTimeout bounds each native call. Default 20s.
	CallTimeout time.Duration
	// API is the native API the reconciler calls for the backend's keys
	// (the sandbox lane's keys go to Options.Sandbox). nil uses the
	// Server's.
	// Give it a client with its own circuit breaker
	// (upstream.Client.WithOwnBreaker), so that replays timing out on a
	// degraded backend do not open the breaker live requests go through,
	// nor get refused by it.
	API NativeAPI
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// NewReconciler makes a Reconciler that shares the Server's native API,
// store, keys and telemetry.
func (s *Server) NewReconciler(opt ReconcileOptions) *Reconciler {
	if opt.After <= 0 {
		opt.After = 2 * time.Minute
	}
	if opt.Every <= 0 {
		opt.Every = 30 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = time.Minute
	}
	if opt.Batch <= 0 {
		opt.Batch = 50
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 20 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	turns := (opt.Batch + opt.Concurrency - 1) / opt.Concurrency
	opt.Lease = max(opt.Lease, time.Duration(turns+1)*rowBudget(opt.CallTimeout))
	api := s.api
	if opt.API != nil {
		api = s.withLane(s.tel.nativeAPI(opt.API))
	}
	return &Reconciler{log: s.log, api: api, ids: s.ids, keys: s.opt.Keys, opt: opt, tel: s.tel}
}

// rowBudget is the longest settling one row may take: a replay, a cancel
// and a re-read, each bounded by callTimeout.
func rowBudget(callTimeout time.Duration) time.Duration { return 3 * callTimeout }

// Run settles rows until ctx is done, a round at once and then one every
// Every. It returns ctx.Err().
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.opt.Every)
	defer t.Stop()
	for {
		if _, err := r.Round(ctx); err != nil && ctx.Err() == nil {
			r.log.LogAttrs(ctx, slog.LevelWarn, "reconcile round failed", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Round settles the pending rows that are due now, in batches until none
// is left, Concurrency rows at a time, and returns how many it settled.
func (r *Reconciler) Round(ctx context.Context) (int, error) {
	settled := 0
	for {
		claimed := r.opt.Now()
		rows, err := r.ids.Stale(ctx, claimed.Add(-r.opt.After), r.opt.Lease, r.opt.Batch)
		if err != nil {
			return settled, err
		}
		// A row is started only while its lease outlasts its settling, so
		// that no other replica claims a row this one is still settling.
		last := claimed.Add(r.opt.Lease - rowBudget(r.opt.CallTimeout))
		var done atomic.Int64
		var wg sync.WaitGroup
		slots := make(chan struct{}, r.opt.Concurrency)
		for _, p := range rows {
			slots <- struct{}{}
			if ctx.Err() != nil || r.opt.Now().After(last) {
				<-slots
				break
			}
			wg.Go(func() {
				defer func() { <-slots }()
				if r.settle(ctx, p) {
					done.Add(1)
				}
			})
		}
		wg.Wait()
		settled += int(done.Load())
		if len(rows) < r.opt.Batch || done.Load() == 0 {
			return settled, nil
		}
	}
}

// settle settles one pending row and reports whether it is done.
func (r *Reconciler) settle(ctx context.Context, p idmap.Pending) bool {
	ctx, span := r.tel.tracer.Start(ctx, "reconcile", trace.WithAttributes(attrLegacyID.Int64(p.LegacyID), attrOwner.String(ShortOwner(p.Owner))))
	defer span.End()
	log := r.log.With(slog.Int64("legacy_id", p.LegacyID), slog.String("owner", p.Owner), slog.Int("attempt", p.Attempts))
	in, err := r.keys.open(p.Owner, p.Intent)
	if err != nil {
		// Sealed under another secret: nobody can settle it. Void it so it
		// does not come back every round, and say what a person must do.
		log.LogAttrs(ctx, slog.LevelError, "pending purchase cannot be opened; reconcile by hand with its idempotency key",
			slog.String("idempotency_key", p.IdemKey), slog.String("err", err.Error()))
		r.tel.compensation(ctx, false)
		return r.void(ctx, log, p)
	}
	callCtx, cancel := context.WithTimeout(ctx, r.opt.CallTimeout)
	act, err := r.api.Buy(callCtx, in.APIKey, in.Buy, p.IdemKey)
	cancel()
	if err != nil {
		if upstream.EffectOf(err) == upstream.EffectNoneUnderKey {
			// A definite no: no purchase exists under this key, and the
			// replay made none.
			return r.void(ctx, log, p)
		}
		log.LogAttrs(ctx, slog.LevelWarn, "replaying pending purchase failed; will retry", slog.String("err", err.Error()))
		return false
	}
	if act.Status.Refunded() {
		// Already refunded (an earlier compensation, or the backend's expiry).
		return r.void(ctx, log, p)
	}
	callCtx, cancel = context.WithTimeout(ctx, r.opt.CallTimeout)
	_, err = r.api.Cancel(callCtx, in.APIKey, act.ID)
	cancel()
	switch {
	case err == nil:
		r.tel.compensation(ctx, true)
		log.LogAttrs(ctx, slog.LevelWarn, "unanswered purchase refunded", slog.String("native_id", act.ID))
	case errors.Is(err, &upstream.APIError{Code: upstream.CodeInvalidState}):
		// The replay answers the purchase as it was made (WAITING), not as
		// it is: read it now before calling it unrefundable.
		callCtx, cancel = context.WithTimeout(ctx, r.opt.CallTimeout)
		now, gerr := r.api.Activation(callCtx, in.APIKey, act.ID)
		cancel()
		if gerr != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "refund refused and the purchase cannot be read; will retry",
				slog.String("native_id", act.ID), slog.String("err", gerr.Error()))
			return false
		}
		if now.Status.Refunded() {
			// An earlier compensation or another replica refunded it.
			log.LogAttrs(ctx, slog.LevelInfo, "unanswered purchase already refunded",
				slog.String("native_id", act.ID), slog.String("status", string(now.Status)))
			break
		}
		// An SMS came (the charge is final). The bot never had this ID: a
		// person must look at it.
		r.tel.compensation(ctx, false)
		log.LogAttrs(ctx, slog.LevelError, "unanswered purchase cannot be refunded", slog.String("native_id", act.ID),
			slog.String("status", string(now.Status)), slog.String("err", err.Error()))
	default:
		log.LogAttrs(ctx, slog.LevelWarn, "refunding unanswered purchase failed; will retry",
			slog.String("native_id", act.ID), slog.String("err", err.Error()))
		return false
	}
	return r.void(ctx, log, p)
}

func (r *Reconciler) void(ctx context.Context, log *slog.Logger, p idmap.Pending) bool {
	if err := r.ids.Release(ctx, p.LegacyID); err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "voiding settled purchase failed; will retry", slog.String("err", err.Error()))
		return false
	}
	return true
}
