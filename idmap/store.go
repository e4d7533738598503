package idmap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Store is the durable ID map. *SQLite, *Postgres and *Cached implement it.
// All methods are safe for concurrent use. Every call gets its own deadline
// (Options.OpTimeout); a failure to reach the store matches ErrUnavailable.
type Store interface {
	// Reserve journals a purchase before it happens: it inserts a pending row
	// and returns its new legacy ID, which is never reused.
	Reserve(ctx context.Context, r Reservation) (legacyID int64, err error)
	// Commit turns a pending row into an active one mapped to nativeID and
	// clears its intent; its watch, if any, is live from then on. It returns ErrNotPending if the row is not pending
	// (already committed, released, or gone).
	Commit(ctx context.Context, legacyID int64, nativeID string) error
	// Release voids a pending row whose purchase did not happen or was
	// refunded, clears its intent and deletes its watch; the row stays until retention deletes
	// it, so the ID is never reused. Releasing a void or missing row returns
	// nil; releasing an active row returns ErrNotPending and changes nothing.
	Release(ctx context.Context, legacyID int64) error
	// Lookup returns the native ID of an active row of owner. A pending or
	// void row, a row of another owner and a missing row all give ErrNotFound.
	Lookup(ctx context.Context, owner string, legacyID int64) (nativeID string, err error)
	// LegacyIDs maps native IDs to the legacy IDs of owner's active rows, in
	// one query. A native ID with no active row of owner (missing, pending,
	// void, deleted, or another owner's) is absent from the map, as are
	// repeats and empty strings in nativeIDs; if two active rows of owner
	// carry one native ID, the smaller legacy ID is given. An empty
	// nativeIDs gives an empty map without asking the store. More than
	// MaxNativeIDs IDs are refused with an error that is not ErrUnavailable;
	// callers ask once per page of the native list. The map is never nil
	// when err is nil, and the caller may keep it.
	LegacyIDs(ctx context.Context, owner string, nativeIDs []string) (map[string]int64, error)
	// Stale claims up to limit pending rows created before before whose claim
	// is free or expired, for lease from now, and returns them oldest first
	// with Attempts counting this claim. A claimed row is not returned again
	// until its lease ends, by any replica. lease and limit must be positive.
	Stale(ctx context.Context, before time.Time, lease time.Duration, limit int) ([]Pending, error)
	// DeleteBefore deletes up to limit active or void rows created before
	// before, oldest first, and returns how many it deleted. It never deletes
	// pending rows. limit must be positive; callers loop in small batches.
	DeleteBefore(ctx context.Context, before time.Time, limit int) (int64, error)
	// ReserveRequest is Reserve for a purchase bound to a request ID, in one
	// atomic step on the binding (owner, k.ID): with no live binding (none,
	// older than k.Since, or bound to a void or deleted row) it reserves a
	// pending row claimed for k.Lease and binds it (ClaimNew); a binding
	// with other k.Params is ErrRequestConflict; otherwise it reports the
	// bound row (ClaimActive, ClaimBusy) or, when the row is pending and its
	// claim has ended, claims it for k.Lease (ClaimTaken). Two callers never
	// both get ClaimNew or ClaimTaken for one row at once, on any replica.
	ReserveRequest(ctx context.Context, r Reservation, k RequestKey) (Claim, error)
	// DeleteRequestsBefore deletes up to limit request bindings created
	// before before, oldest first, and returns how many it deleted. It
	// never touches id_map rows. limit must be positive.
	DeleteRequestsBefore(ctx context.Context, before time.Time, limit int) (int64, error)
	// DueWatches claims up to limit callback watches whose row is active,
	// whose next poll is due and whose claim is free or expired, for lease
	// from now, soonest due first, with Attempts counting this claim. A
	// claimed watch is not returned again until its lease ends, by any
	// replica. lease and limit must be positive.
	DueWatches(ctx context.Context, lease time.Duration, limit int) ([]WatchClaim, error)
	// RecordWatch applies u to a claimed watch in one transaction: the
	// outbox gets u.Event (if any) exactly when the watch takes u.State (or
	// ends), so that a crash neither loses nor doubles an event. A watch
	// gone or recorded since the claim (another Seq) is ErrWatchMoved.
	RecordWatch(ctx context.Context, u WatchUpdate) error
	// DueEvents claims up to limit outbox events whose attempt is due and
	// whose claim is free or expired, for lease from now, oldest due first,
	// with Attempts counting this claim. lease and limit must be positive.
	DueEvents(ctx context.Context, lease time.Duration, limit int) ([]DueEvent, error)
	// SettleEvent records the outcome of an attempt to deliver eventID and
	// ends its claim; with Retry it is due again at next. Settling an event
	// that is delivered, dead or gone changes nothing and returns nil.
	SettleEvent(ctx context.Context, eventID string, o Outcome, next time.Time) error
	// DeleteEventsBefore deletes up to limit delivered or dead outbox
	// events created before before, and watches created before before,
	// oldest first, and returns how many rows it deleted. limit must be
	// positive.
	DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int64, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections. Calls after Close fail.
	Close() error
}

// Reservation is what Reserve journals.
type Reservation struct {
	// Owner is the caller's opaque fingerprint of the API key (never the key
	// itself). It must not be empty.
	Owner string
	// IdemKey is the idempotency key of the native buy, kept so that a
	// reconciler can replay or find the purchase.
	IdemKey string
	// Intent is an opaque sealed blob the store keeps until Commit or Release
	// and hands back through Stale; the store never interprets it. nil is
	// stored as no intent.
	Intent []byte
	// Watch is the purchase's callback, journaled with the row; nil for
	// none.
	Watch *Watch
}

// Pending is a pending row claimed by Stale.
type Pending struct {
	// LegacyID is the row's legacy activation ID.
	LegacyID int64
	// Owner and IdemKey are as given to Reserve.
	Owner, IdemKey string
	// Intent is the blob given to Reserve (nil if none).
	Intent []byte
	// CreatedAt is when Reserve ran, by Options.Now, in UTC with microsecond
	// precision.
	CreatedAt time.Time
	// Attempts counts the claims of this row, this one included.
	Attempts int
}

// Options tunes a store. The zero value is usable.
type Options struct {
	// OpTimeout bounds every store call, so that a store that is down fails
	// promptly instead of piling up callers. Default 2s. Open and its schema
	// migration get 15 times as long.
	OpTimeout time.Duration
	// Now is the clock for created_at, claims and leases. Default time.Now.
	// With PostgreSQL every replica's clock counts, so keep them in sync.
	Now func() time.Time
	// MaxConns caps the connections: PostgreSQL pool size, or SQLite reader
	// connections (SQLite always writes through one connection). Default 4.
	MaxConns int
}

func (o Options) withDefaults() Options {
	if o.OpTimeout <= 0 {
		o.OpTimeout = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	return o
}

// openTimeout bounds Open, connection and migration included.
func (o Options) openTimeout() time.Duration { return 15 * o.OpTimeout }

// MaxNativeIDs is the most native IDs one LegacyIDs call takes, repeats
// included: one full page of the native API's list of active activations.
const MaxNativeIDs = 1000

var (
	// ErrNotFound means Lookup found no active row of that owner.
	ErrNotFound = errors.New("idmap: legacy id not found")
	// ErrNotPending means Commit or Release found the row not pending.
	ErrNotPending = errors.New("idmap: legacy id not pending")
	// ErrUnavailable matches every failure to reach the store in time: a
	// refused or dropped connection, an I/O error, a lock or an OpTimeout
	// deadline. Callers may retry such a call later; the store has not
	// answered it. A done caller context gives ctx.Err() instead.
	ErrUnavailable = errors.New("idmap: store unavailable")
)

// Open opens the store named by dsn and migrates its schema.
// "postgres://..." and "postgresql://..." open PostgreSQL (OpenPostgres);
// "sqlite:PATH", "file:PATH" or a plain PATH open SQLite (OpenSQLite),
// creating the parent directory. The shim's default is "./data/idmap.db".
// In-memory SQLite databases are refused: the map must be durable.
func Open(ctx context.Context, dsn string, opt Options) (Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s, err := OpenPostgres(ctx, dsn, opt)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory of the id map: %w", err)
	}
	s, err := OpenSQLite(ctx, path, opt)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// sqlitePath returns the file path named by a SQLite DSN.
func sqlitePath(dsn string) (string, error) {
	path := dsn
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		path = strings.TrimPrefix(dsn, "sqlite:")
	case strings.HasPrefix(dsn, "file:"):
		path = strings.TrimPrefix(dsn, "file:")
	}
	switch {
	case path == "":
		return "", errors.New("parsing id map dsn: empty path")
	case strings.Contains(path, "?"):
		return "", errors.New("parsing id map dsn: query parameters are not supported: the store sets its own pragmas")
	case path == ":memory:" || strings.HasPrefix(path, ":memory:"):
		return "", errors.New("parsing id map dsn: in-memory databases are not durable")
	case strings.Contains(path, "://"):
		return "", errors.New("parsing id map dsn: unknown scheme: want postgres://, postgresql://, sqlite:, file: or a path")
	}
	return path, nil
}

// call is what both backends share: per-call deadlines and error kinds.
type call struct {
	timeout time.Duration
	now     func() time.Time
	// unavailable reports whether a backend error means the store could not
	// answer (connection, I/O, lock); deadlines are handled by fail.
	unavailable func(error) bool
}

// ctx gives one store call its own deadline.
func (c call) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.timeout)
}

// fail classifies err from a call made under parent: the caller's own
// cancellation stays ctx.Err(), a missed deadline or lost store becomes
// ErrUnavailable, anything else is returned as is. The result is wrapped
// with what.
func (c call) fail(parent context.Context, what string, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%s: %w", what, parent.Err())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), c.unavailable(err):
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

func checkReservation(r Reservation) error {
	if r.Owner == "" {
		return errors.New("reserving a legacy id: empty owner")
	}
	return checkWatch(r.Watch)
}

func checkStale(lease time.Duration, limit int) error {
	if lease <= 0 {
		return fmt.Errorf("claiming stale rows: lease %v is not positive", lease)
	}
	if limit <= 0 {
		return fmt.Errorf("claiming stale rows: limit %d is not positive", limit)
	}
	return nil
}

// checkNativeIDs returns the distinct non-empty IDs of nativeIDs, sorted, or
// an error if there are more than MaxNativeIDs of them, repeats included.
func checkNativeIDs(nativeIDs []string) ([]string, error) {
	if len(nativeIDs) > MaxNativeIDs {
		return nil, fmt.Errorf("looking up legacy ids: %d native ids, at most %d per call", len(nativeIDs), MaxNativeIDs)
	}
	ids := slices.DeleteFunc(slices.Clone(nativeIDs), func(id string) bool { return id == "" })
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// legacyIDs is what both backends' LegacyIDs share: it checks nativeIDs
// and, unless none is left, runs query on the distinct ones under one call
// deadline. query calls add for each row it finds; when two rows carry one
// native ID, the smaller legacy ID is kept.
func (c call) legacyIDs(ctx context.Context, nativeIDs []string,
	query func(ctx context.Context, ids []string, add func(nativeID string, legacyID int64)) error,
) (map[string]int64, error) {
	ids, err := checkNativeIDs(nativeIDs)
	if err != nil {
		return nil, err
	}
	found := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	octx, cancel := c.ctx(ctx)
	defer cancel()
	err = query(octx, ids, func(nativeID string, legacyID int64) {
		if old, ok := found[nativeID]; !ok || legacyID < old {
			found[nativeID] = legacyID
		}
	})
	if err != nil {
		return nil, c.fail(ctx, fmt.Sprintf("looking up legacy ids of %d native ids", len(ids)), err)
	}
	return found, nil
}
