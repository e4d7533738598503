package shim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// requestLeaseMargin is added to the longest a request and its refund may
// take to make the lease a requestId purchase holds on its journal row.
const requestLeaseMargin = 5 * time.Second

// Bounds of the pause between two looks at a requestId purchase that
// another request (or replica, or the Reconciler) is settling.
const (
	busyPollMin = 20 * time.Millisecond
	busyPollMax = 250 * time.Millisecond
)

// purchaseOnce is purchase for a request with a requestId: one purchase per
// (key, requestId) within Options.RequestIDTTL, on every replica. The ID
// map binds the requestId to the journal row of its purchase
// (IDStore.ReserveRequest), and what the binding finds decides:
//
//   - nothing, or a purchase that ended with nothing bought or the money
//     back (a void row): a new journaled purchase, made as purchase makes
//     one, but holding its row under a lease that outlives the request;
//   - a committed purchase: the same activation, read again from the
//     backend and answered with render, so the same legacy ID and phone;
//   - a purchase in flight (its lease holds): wait for its outcome, until
//     this request's own deadline, then ERROR_SQL;
//   - a purchase left pending whose lease has ended (its request died, or
//     its outcome was lost): take it over and replay it under its own
//     Idempotency-Key, which buys nothing new if it was bought;
//   - other purchase parameters: REQUEST_ID_CONFLICT.
//
// Unlike purchase, a number bought for a client that has left is kept and
// committed: the bot's retry with the same requestId gets it. The
// callback is the one of the request that made the purchase (watch, with
// the new row); a retry's callback is not looked at.
func (s *Server) purchaseOnce(ctx context.Context, key, owner string, p purchase, sealed []byte, watch *idmap.Watch, render func(int64, upstream.Activation) ([]byte, error)) ([]byte, error) {
	rec := recordFrom(ctx)
	fin, cancel := detached(ctx)
	defer cancel()
	k := idmap.RequestKey{
		ID:     requestIDHash(p.requestID),
		Params: purchaseFingerprint(p),
		Since:  s.opt.Now().Add(-s.opt.RequestIDTTL),
		Lease:  s.opt.RequestTimeout + s.opt.CompensationTimeout + requestLeaseMargin,
	}
	pause := busyPollMin
	for tries := 0; ; {
		c, err := s.ids.ReserveRequest(ctx, idmap.Reservation{Owner: owner, IdemKey: newIdempotencyKey(), Intent: sealed, Watch: watch}, k)
		if err != nil {
			return nil, fmt.Errorf("journaling purchase: %w", err)
		}
		rec.setLegacyID(c.LegacyID)
		switch c.Kind {
		case idmap.ClaimActive:
			rec.setNativeID(c.NativeID)
			act, err := s.api.Activation(ctx, key, c.NativeID)
			if err != nil {
				return nil, fmt.Errorf("reading the purchase of a requestId again: %w", err)
			}
			return render(c.LegacyID, act)
		case idmap.ClaimBusy:
			if err := sleep(ctx, pause); err != nil {
				return nil, &translate.Error{Code: translate.ErrorSQL,
					Err: fmt.Errorf("the purchase of this requestId is still being settled: %w", err)}
			}
			pause = min(2*pause, busyPollMax)
			continue
		}
		body, again, err := s.settleClaim(ctx, fin, key, owner, p, c, render)
		if !again {
			return body, err
		}
		if tries++; tries >= excludedTries {
			return nil, &translate.Error{Code: translate.NoNumbers}
		}
	}
}

// settleClaim buys (ClaimNew) or replays (ClaimTaken) the purchase of a
// row this request holds, and commits and answers it. again reports that
// the number was refunded (an excluded prefix, or a replay that found it
// refunded) and its row voided: the caller may buy another.
func (s *Server) settleClaim(ctx, fin context.Context, key, owner string, p purchase, c idmap.Claim, render func(int64, upstream.Activation) ([]byte, error)) (body []byte, again bool, err error) {
	act, err := s.api.Buy(fin, key, p.buy, c.IdemKey)
	if err != nil {
		// A fresh key with any definite verdict bought nothing; a key an
		// earlier request used is cleared only by the backend's own no.
		eff := upstream.EffectOf(err)
		if eff == upstream.EffectNoneUnderKey || (c.Kind == idmap.ClaimNew && eff != upstream.EffectUnknown) {
			s.release(ctx, c.LegacyID)
		}
		return nil, false, err
	}
	recordFrom(ctx).setNativeID(act.ID)
	if act.Status.Refunded() || p.opts.Excluded(act.PhoneNumber) {
		if !s.refuse(ctx, key, c.LegacyID, act.ID) {
			return nil, false, &translate.Error{Code: translate.ErrorSQL, Err: errors.New("refunding a number the bot cannot take failed")}
		}
		return nil, true, nil
	}
	body, err = render(c.LegacyID, act)
	if err == nil {
		err = s.ids.Commit(fin, c.LegacyID, act.ID)
	}
	if errors.Is(err, idmap.ErrNotPending) {
		// Another holder settled the row after this one's lease ended: its
		// outcome is the requestId's, and a retry reads it.
		return nil, false, &translate.Error{Code: translate.ErrorSQL, Err: fmt.Errorf("storing purchase: %w", err)}
	}
	if err != nil {
		s.compensate(ctx, key, owner, c.LegacyID, act.ID, err)
		return nil, false, fmt.Errorf("storing purchase: %w", err)
	}
	return body, false, nil
}

// sleep waits d or until ctx is done, and then returns ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// requestIDHash is what the ID map keeps of a requestId: its SHA-256, so
// that the store never holds the bot's text.
func requestIDHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// purchaseFingerprint identifies a purchase's parameters, whichever action
// asks for it: the service, the country as the request named it (its
// legacy ID, which the answers carry), maxPrice, operator and the excluded
// prefixes. getNumber and getNumberV2 with one requestId are one purchase.
func purchaseFingerprint(p purchase) string {
	var b strings.Builder
	for _, f := range []string{p.buy.ServiceCode, strconv.Itoa(p.country.ID), p.buy.CountryISO,
		string(p.buy.MaxPrice), p.buy.Operator, strings.Join(p.opts.Exclude, ",")} {
		b.WriteString(strconv.Quote(f))
		b.WriteByte(0)
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:16])
}
