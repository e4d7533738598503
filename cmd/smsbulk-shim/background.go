package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/smsbulk/smsbulk-shim/callback"
	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
)

// work is what runs beside the servers.
type work struct {
	// reconcile settles unfinished purchases.
	reconcile shim.ReconcileOptions
	// retention deletes old rows of the ID map.
	retention idmap.RetentionOptions
	// callbacks watches the activations bought with a callback and
	// delivers their events.
	callbacks shim.CallbackOptions
	// probeKey, when not "", keeps the native catalog fresh every
	// warmEvery, for readiness.
	probeKey  string
	warmEvery time.Duration
}

// backgroundOptions is the work the configuration asks for.
func backgroundOptions(cfg config.Config, be *backend, log *slog.Logger) work {
	w := work{
		reconcile: shim.ReconcileOptions{After: cfg.ReconcileAfter, Every: cfg.ReconcileEvery},
		retention: idmap.RetentionOptions{MaxAge: cfg.IDMapRetention, RequestMaxAge: cfg.RequestIDTTL,
			EventMaxAge: cfg.CallbackRetention, Logger: log},
		callbacks: shim.CallbackOptions{
			Poster:    callback.New(callback.Options{Timeout: cfg.CallbackTimeout, AllowPrivate: cfg.CallbackAllowPrivate}),
			PollEvery: cfg.CallbackPollEvery, Timeout: cfg.CallbackTimeout, RetryFor: cfg.CallbackRetryFor,
			RetryMin: cfg.CallbackRetryMin, RetryMax: cfg.CallbackRetryMax, WatchFor: config.CallbackWatchFor,
			CallTimeout: cfg.UpstreamTimeout,
		},
		probeKey:  be.probeKey,
		warmEvery: cfg.CatalogWarmEvery,
	}
	if be.client != nil {
		// The reconciler's replays have a breaker of their own: they
		// neither open the live one nor are refused by it.
		w.reconcile.API = be.client.WithOwnBreaker()
		// So have the callbacks' polls; the sandbox lane's keys still go
		// to the lane (shim routes every API it is given).
		w.callbacks.API = be.client.WithOwnBreaker()
	}
	return w
}

// background is the work started by startBackground.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startBackground starts w on srv and ids. Retention deletes through ids,
// the cache the shim looks up in, so that the cache forgets what it
// deletes. The work runs until stop, not until ctx is done, so that it
// goes on while in-flight requests finish.
//
// It also logs each change of breaker's state (see watchBackend).
func startBackground(ctx context.Context, log *slog.Logger, srv *shim.Server, ids *idmap.Cached, breaker breakerStater, w work) *background {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &background{cancel: cancel}
	rec := srv.NewReconciler(w.reconcile)
	b.wg.Go(func() { _ = rec.Run(ctx) })
	cbs := srv.NewCallbacks(w.callbacks)
	b.wg.Go(func() { _ = cbs.RunWatcher(ctx) })
	b.wg.Go(func() { _ = cbs.RunDeliverer(ctx) })
	b.wg.Go(func() { idmap.RunRetention(ctx, ids, w.retention) })
	b.wg.Go(func() { watchBackend(ctx, log, breaker, time.Second) })
	if w.probeKey != "" {
		b.wg.Go(func() { warmCatalog(ctx, srv, w.probeKey, w.warmEvery, log) })
	}
	return b
}

// stop stops the work and waits for it to return. Calling it again does
// nothing more.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

// warmCatalog keeps the native catalog fresh with the probe key until ctx
// is done, so that /readyz can tell whether it answers.
func warmCatalog(ctx context.Context, srv *shim.Server, key string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := srv.WarmCatalog(ctx, key); err != nil && ctx.Err() == nil {
			log.Warn("native catalog did not answer", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
