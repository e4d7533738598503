package idmap

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Watch is the callback of a purchase, journaled by Reserve and
// ReserveRequest with its row (Reservation.Watch) so that no crash can
// separate them: inert while the row is pending, claimed by DueWatches
// once it is active, deleted by Release and when RecordWatch ends it.
type Watch struct {
	// URL receives the activation's events. It must not be empty.
	URL string
	// Key is the bot's API key sealed by the caller; the store keeps it
	// opaque and deletes it with the watch. It must not be empty.
	Key []byte
	// State is the caller's opaque summary of the activation as bought.
	State string
}

// WatchClaim is a watch claimed by DueWatches.
type WatchClaim struct {
	LegacyID int64
	// Owner and NativeID are the row's.
	Owner, NativeID string
	// URL, Key and State are as last recorded.
	URL   string
	Key   []byte
	State string
	// Seq counts the events recorded for this watch so far: RecordWatch
	// is given it back.
	Seq int
	// CreatedAt is when the watch was journaled, in UTC.
	CreatedAt time.Time
	// Attempts counts the claims of this watch, this one included.
	Attempts int
}

// WatchUpdate is what RecordWatch does with a claimed watch, in one
// transaction.
type WatchUpdate struct {
	LegacyID int64
	// Seq is the claim's Seq: if another poll recorded since, nothing
	// changes and RecordWatch returns ErrWatchMoved.
	Seq int
	// State is the new state.
	State string
	// Event, when not nil, is appended to the outbox, and Seq counts it.
	// An event ID already in the outbox is kept as it is.
	Event *Event
	// End deletes the watch, sealed key included, instead of updating it.
	End bool
	// NextPoll is when the watch is due again (unless End); its claim ends.
	NextPoll time.Time
}

// Event is one outbox row to POST.
type Event struct {
	// ID is the event's unique ID, which receivers dedup by. It must not
	// be empty.
	ID       string
	LegacyID int64
	URL      string
	// Body is POSTed as is; Signature is its header value, made by the
	// caller when the event was seen.
	Body      []byte
	Signature string
}

// DueEvent is an event claimed by DueEvents.
type DueEvent struct {
	Event
	// CreatedAt is when the event was appended, in UTC.
	CreatedAt time.Time
	// Attempts counts the claims of this event, this one included.
	Attempts int
}

// Outcome is what one delivery attempt of an event came to.
type Outcome uint8

// The outcomes SettleEvent records.
const (
	// Delivered: the receiver took the event; it is never sent again.
	Delivered Outcome = iota + 1
	// Retry: the attempt failed; the event is due again at NextAttempt.
	Retry
	// Dead: the attempt failed and no more are made.
	Dead
)

// ErrWatchMoved means RecordWatch found the watch gone or recorded by
// another poll since the claim: the caller's poll is stale and changed
// nothing.
var ErrWatchMoved = errors.New("idmap: callback watch moved on")

func checkWatch(w *Watch) error {
	if w != nil && (w.URL == "" || len(w.Key) == 0) {
		return errors.New("reserving a legacy id: a watch needs a url and a sealed key")
	}
	return nil
}

func checkClaim(what string, lease time.Duration, limit int) error {
	if lease <= 0 {
		return fmt.Errorf("%s: lease %v is not positive", what, lease)
	}
	if limit <= 0 {
		return fmt.Errorf("%s: limit %d is not positive", what, limit)
	}
	return nil
}

func checkUpdate(u WatchUpdate) error {
	if u.Event != nil && u.Event.ID == "" {
		return errors.New("recording a callback watch: empty event id")
	}
	return nil
}

// outboxState is the outbox state column of an outcome.
func outboxState(o Outcome) (string, error) {
	switch o {
	case Delivered:
		return "delivered", nil
	case Retry:
		return "due", nil
	case Dead:
		return "dead", nil
	}
	return "", fmt.Errorf("settling a callback event: unknown outcome %d", o)
}

// errRollback ends a transaction with nothing written; the caller knows
// why.
var errRollback = errors.New("idmap: rolled back")

// sortedBy sorts xs by the time and then the ID that key gives, and
// returns it: UPDATE ... RETURNING gives no order.
func sortedBy[T any](xs []T, key func(T) (time.Time, int64)) []T {
	slices.SortFunc(xs, func(a, b T) int {
		at, ai := key(a)
		bt, bi := key(b)
		if c := at.Compare(bt); c != 0 {
			return c
		}
		return cmp.Compare(ai, bi)
	})
	return xs
}
