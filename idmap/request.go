package idmap

import (
	"errors"
	"fmt"
	"time"
)

// RequestKey names one purchase request of an owner: what ReserveRequest
// binds to a journal row.
type RequestKey struct {
	// ID identifies the request within its owner: a hash of the bot's
	// requestId (the store never sees the value itself). It must not be
	// empty.
	ID string
	// Params fingerprints the purchase parameters. A binding made with
	// other Params is refused with ErrRequestConflict.
	Params string
	// Since is the start of the window: a binding created before it is
	// ignored and replaced, as if there were none.
	Since time.Time
	// Lease is how long the caller holds a row it reserves or takes over
	// (the row's claim, which Stale respects): at least as long as the
	// caller may still act on it. It must be positive.
	Lease time.Duration
}

// ClaimKind says what ReserveRequest found.
type ClaimKind uint8

// The outcomes of ReserveRequest.
const (
	// ClaimNew: no live binding, or one whose row is void or gone: a new
	// pending row was reserved with the Reservation, claimed for Lease,
	// and bound. The caller buys under the Reservation's IdemKey.
	ClaimNew ClaimKind = iota + 1
	// ClaimActive: the bound row is active; NativeID is its purchase.
	ClaimActive
	// ClaimBusy: the bound row is pending and claimed by someone else (the
	// request that reserved it, another retry, the Reconciler) until
	// ClaimedUntil. Nothing changed; ask again later.
	ClaimBusy
	// ClaimTaken: the bound row is pending and its claim had ended: the
	// caller now holds it for Lease, and must settle it under IdemKey, the
	// row's key, which an earlier request may have bought with.
	ClaimTaken
)

// Claim is what ReserveRequest found or did.
type Claim struct {
	Kind ClaimKind
	// LegacyID is the bound row's legacy ID.
	LegacyID int64
	// NativeID is set for ClaimActive.
	NativeID string
	// IdemKey is the row's idempotency key, for ClaimNew and ClaimTaken.
	IdemKey string
	// ClaimedUntil is when the other claim ends, for ClaimBusy, by
	// Options.Now, in UTC.
	ClaimedUntil time.Time
}

// ErrRequestConflict means the request ID is bound, within the window, to
// a purchase with other parameters.
var ErrRequestConflict = errors.New("idmap: request id used with other parameters")

func checkRequest(r Reservation, k RequestKey) error {
	if err := checkReservation(r); err != nil {
		return err
	}
	if k.ID == "" {
		return errors.New("reserving a request id: empty request id")
	}
	if k.Lease <= 0 {
		return fmt.Errorf("reserving a request id: lease %v is not positive", k.Lease)
	}
	return nil
}

// boundRow is the state of a binding's row as both backends read it.
type boundRow struct {
	params       string
	legacyID     int64
	createdAt    time.Time
	state        string // "" when the row is gone
	nativeID     string
	idemKey      string
	claimedUntil time.Time // zero when unclaimed
}

// decide is what both backends do with a binding they read under lock:
// found reports a binding; the result is the claim to give without writing
// (ClaimActive, ClaimBusy), a takeover to make (ClaimTaken), or a new
// reservation (ClaimNew), or ErrRequestConflict.
func decide(found bool, b boundRow, k RequestKey, now time.Time) (Claim, error) {
	if !found || b.createdAt.Before(k.Since) {
		return Claim{Kind: ClaimNew}, nil
	}
	if b.params != k.Params {
		return Claim{}, fmt.Errorf("reserving a request id: %w", ErrRequestConflict)
	}
	switch b.state {
	case "active":
		return Claim{Kind: ClaimActive, LegacyID: b.legacyID, NativeID: b.nativeID}, nil
	case "pending":
		if b.claimedUntil.After(now) {
			return Claim{Kind: ClaimBusy, LegacyID: b.legacyID, ClaimedUntil: b.claimedUntil}, nil
		}
		return Claim{Kind: ClaimTaken, LegacyID: b.legacyID, IdemKey: b.idemKey}, nil
	}
	return Claim{Kind: ClaimNew}, nil
}
