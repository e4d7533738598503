package idmap

import (
	"context"
	"log/slog"
	"time"
)

// RetentionOptions tunes RunRetention. The zero value is usable.
type RetentionOptions struct {
	// MaxAge is how long active and void rows are kept after Reserve.
	// Default 30 days. Keep it longer than any activation can live.
	MaxAge time.Duration
	// RequestMaxAge is how long request ID bindings are kept
	// (SHIM_REQUEST_ID_TTL): older ones are ignored by ReserveRequest and
	// deleted here. Default 24h.
	RequestMaxAge time.Duration
	// EventMaxAge is how long callback events are kept once delivered or
	// dead, and the longest a callback watch is kept
	// (SHIM_CALLBACK_RETENTION). Default 7 days.
	EventMaxAge time.Duration
	// Every is the time between passes. Default 1h. The first pass runs at
	// once.
	Every time.Duration
	// Batch is how many rows one DeleteBefore call deletes at most, so that
	// no call holds the store for long. Default 500.
	Batch int
	// Pause is the wait between two batches of one pass, to let other
	// writers in. Default 0 (none).
	Pause time.Duration
	// Now is the clock that dates MaxAge. Default time.Now.
	Now func() time.Time
	// Logger receives one line per pass that deleted rows or failed. nil
	// discards them.
	Logger *slog.Logger
}

func (o RetentionOptions) withDefaults() RetentionOptions {
	if o.MaxAge <= 0 {
		o.MaxAge = 30 * 24 * time.Hour
	}
	if o.RequestMaxAge <= 0 {
		o.RequestMaxAge = 24 * time.Hour
	}
	if o.EventMaxAge <= 0 {
		o.EventMaxAge = 7 * 24 * time.Hour
	}
	if o.Every <= 0 {
		o.Every = time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// RunRetention deletes active and void rows older than MaxAge, request
// ID bindings older than RequestMaxAge, and settled callback events and
// watches older than EventMaxAge, from s, in batches, once at start and then every Every, until ctx is done. It never
// deletes pending rows. A failed pass is logged and retried at the next one.
// Run it in its own goroutine; it returns when ctx is done.
func RunRetention(ctx context.Context, s Store, opt RetentionOptions) {
	opt = opt.withDefaults()
	tick := time.NewTicker(opt.Every)
	defer tick.Stop()
	for {
		retentionPass(ctx, "id map retention", opt.Now().Add(-opt.MaxAge), s.DeleteBefore, opt)
		retentionPass(ctx, "request id retention", opt.Now().Add(-opt.RequestMaxAge), s.DeleteRequestsBefore, opt)
		retentionPass(ctx, "callback retention", opt.Now().Add(-opt.EventMaxAge), s.DeleteEventsBefore, opt)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// retentionPass deletes batches of what del deletes until one comes back
// short, then logs under msg.
func retentionPass(ctx context.Context, msg string, before time.Time,
	del func(context.Context, time.Time, int) (int64, error), opt RetentionOptions,
) {
	var total int64
	for {
		n, err := del(ctx, before, opt.Batch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				opt.Logger.Error(msg, "deleted", total, "err", err)
			}
			return
		}
		if n < int64(opt.Batch) {
			break
		}
		if opt.Pause > 0 {
			t := time.NewTimer(opt.Pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
	if total > 0 {
		opt.Logger.Info(msg, "deleted", total, "before", before)
	}
}
