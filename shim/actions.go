package shim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

func (s *Server) getBalance(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	b, err := s.api.Balance(ctx, req.APIKey)
	if err != nil {
		return nil, err
	}
	s.verified.Add(owner, verifiedKey{at: s.opt.Now(), currency: b.Currency})
	return translate.BalanceBody(b)
}

// country resolves a country parameter; "" is the default country.
func (s *Server) country(ctx context.Context, param string) (countries.Country, error) {
	c := s.defaultC
	if param != "" {
		var ok bool
		if c, ok = s.cc.Resolve(param); !ok {
			return c, &translate.Error{Code: translate.BadCountry}
		}
	}
	recordFrom(ctx).setCountry(c.ID, c.ISO)
	return c, nil
}

// service normalises a service parameter and checks that the native
// catalog sells it.
func (s *Server) service(ctx context.Context, key, param string) (string, error) {
	code, err := s.opt.Services.Code(param)
	if err != nil {
		return "", err
	}
	cat, err := s.catalogFor(key).serviceSet(ctx, key)
	if err != nil {
		return "", err
	}
	if _, ok := cat.set[code]; !ok {
		return "", &translate.Error{Code: translate.BadService}
	}
	recordFrom(ctx).setService(code)
	return code, nil
}

// purchase is a getNumber or getNumberV2 request once checked.
type purchase struct {
	buy     upstream.BuyRequest
	country countries.Country
	opts    translate.PurchaseOptions
	// requestID is the bot's requestId, "" for none.
	requestID string
	// callback is the bot's callback URL, "" for none.
	callback string
}

// parsePurchase checks a purchase request: everything that needs no native
// call first, then the service against the native catalog.
func (s *Server) parsePurchase(ctx context.Context, req translate.Request) (purchase, error) {
	c, err := s.country(ctx, req.Country)
	if err != nil {
		return purchase{}, err
	}
	maxPrice, err := translate.ParseMaxPrice(req.MaxPrice)
	if err != nil {
		return purchase{}, err
	}
	operator, err := translate.ParseOperator(req.Operator)
	if err != nil {
		return purchase{}, err
	}
	opts, err := translate.ParsePurchaseOptions(req)
	if err != nil {
		return purchase{}, err
	}
	requestID, err := translate.ParseRequestID(req.RequestID)
	if err != nil {
		return purchase{}, err
	}
	callback, err := translate.ParseCallback(req.Callback, s.opt.CallbackAllowPrivate)
	if err != nil {
		return purchase{}, err
	}
	svc, err := s.service(ctx, req.APIKey, req.Service)
	if err != nil {
		return purchase{}, err
	}
	buy := upstream.BuyRequest{ServiceCode: svc, CountryISO: c.ISO, MaxPrice: maxPrice, Operator: operator}
	return purchase{buy: buy, country: c, opts: opts, requestID: requestID, callback: callback}, nil
}

func (s *Server) getNumber(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	p, err := s.parsePurchase(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.purchase(ctx, req.APIKey, owner, p, translate.NumberBody)
}

func (s *Server) getNumberV2(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	p, err := s.parsePurchase(ctx, req)
	if err != nil {
		return nil, err
	}
	n := translate.NumberV2{CountryID: p.country.ID, Operator: p.buy.Operator, Currency: s.currency(owner)}
	return s.purchase(ctx, req.APIKey, owner, p, func(legacyID int64, act upstream.Activation) ([]byte, error) {
		n.LegacyID = legacyID
		return translate.NumberV2Body(n, act)
	})
}

// excludedTries bounds the purchases one request makes while the backend
// keeps selling numbers the bot excluded (phoneException): each is refunded
// at once, and after the last the answer is NO_NUMBERS.
const excludedTries = 3

// purchase buys a number and answers it with render. The purchase is
// journaled first (a pending row that holds the sealed key and purchase and
// reserves the legacy ID), then bought with its own Idempotency-Key, then
// committed; only a committed row is answered. A purchase that cannot be
// answered or committed is cancelled (refunded) at once; one whose outcome
// is unknown stays pending and the Reconciler settles it. A number with an
// excluded prefix is refunded and another bought, up to excludedTries.
//
// Once journaled, a purchase is finished detached from the client, within
// the request's deadline: a client that leaves does not cancel the buy,
// and a number bought for a client that has left is refunded at once,
// since nobody can hear its ID. A purchase with a requestId is made by
// purchaseOnce instead.
func (s *Server) purchase(ctx context.Context, key, owner string, p purchase, render func(int64, upstream.Activation) ([]byte, error)) ([]byte, error) {
	sealed, err := s.opt.Keys.seal(owner, intent{APIKey: key, Buy: p.buy})
	if err != nil {
		return nil, err
	}
	watch := newWatch(p.callback, sealed)
	if p.requestID != "" {
		return s.purchaseOnce(ctx, key, owner, p, sealed, watch, render)
	}
	rec := recordFrom(ctx)
	fin, cancel := detached(ctx)
	defer cancel()
	for range excludedTries {
		legacyID, act, err := s.buy(ctx, fin, key, owner, p.buy, sealed, watch)
		if err != nil {
			return nil, err
		}
		rec.setLegacyID(legacyID)
		rec.setNativeID(act.ID)
		if err := ctx.Err(); err != nil {
			s.compensate(ctx, key, owner, legacyID, act.ID, fmt.Errorf("the client left: %w", err))
			return nil, err
		}
		if p.opts.Excluded(act.PhoneNumber) {
			s.refuse(ctx, key, legacyID, act.ID)
			continue
		}
		body, err := render(legacyID, act)
		if err == nil {
			err = s.ids.Commit(fin, legacyID, act.ID)
		}
		if err != nil {
			s.compensate(ctx, key, owner, legacyID, act.ID, err)
			return nil, fmt.Errorf("storing purchase: %w", err)
		}
		return body, nil
	}
	return nil, &translate.Error{Code: translate.NoNumbers}
}

// detached is ctx without its cancellation but with its deadline and
// values: what a journaled purchase runs on, so that the client leaving
// does not abandon it half-way.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithoutCancel(ctx), func() {}
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// buy journals one purchase on ctx and makes it on fin, which the client
// cannot cancel. When the backend certainly bought nothing, the journal row is
// voided; when the outcome is unknown, the row stays pending for the
// Reconciler. The purchase's callback watch, if any, is journaled with the
// row.
func (s *Server) buy(ctx, fin context.Context, key, owner string, buy upstream.BuyRequest, sealed []byte, watch *idmap.Watch) (int64, upstream.Activation, error) {
	idem := newIdempotencyKey()
	legacyID, err := s.ids.Reserve(ctx, idmap.Reservation{Owner: owner, IdemKey: idem, Intent: sealed, Watch: watch})
	if err != nil {
		return 0, upstream.Activation{}, fmt.Errorf("journaling purchase: %w", err)
	}
	act, err := s.api.Buy(fin, key, buy, idem)
	if err != nil {
		if upstream.EffectOf(err) != upstream.EffectUnknown {
			// The backend answered no, or never got the request (a failed
			// dial, an open circuit breaker), and no earlier request used
			// this fresh key: nothing was bought.
			s.release(ctx, legacyID)
		}
		// Otherwise the outcome is unknown; the row stays pending and the
		// Reconciler replays the purchase with the same key and refunds it.
		return 0, upstream.Activation{}, err
	}
	return legacyID, act, nil
}

// refuse refunds a number the bot excluded and voids its row, and reports
// whether it did. If the refund fails the row stays pending and the
// Reconciler refunds it.
func (s *Server) refuse(ctx context.Context, key string, legacyID int64, nativeID string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.CompensationTimeout)
	defer cancel()
	if _, err := s.api.Cancel(ctx, key, nativeID); err != nil && !errors.Is(err, &upstream.APIError{Code: upstream.CodeInvalidState}) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "refunding an excluded number failed; the reconciler will retry",
			slog.Int64("legacy_id", legacyID), slog.String("native_id", nativeID), slog.String("err", err.Error()))
		return false
	}
	return s.release(ctx, legacyID)
}

// checkKey makes sure the backend knows the key before any action but
// getBalance (which asks the backend itself) looks at other parameters, so
// that a wrong key is BAD_KEY first, as the original answered, and a
// request with an unknown key writes nothing. A key the backend accepted
// within verifiedFor is trusted; any other costs one balance call, the
// cheapest native call there is.
func (s *Server) checkKey(ctx context.Context, key, owner string) error {
	now := s.opt.Now()
	if v, ok := s.verified.Get(owner); ok && now.Sub(v.at) < verifiedFor {
		return nil
	}
	b, err := s.api.Balance(ctx, key)
	if err != nil {
		return err
	}
	s.verified.Add(owner, verifiedKey{at: now, currency: b.Currency})
	return nil
}

// currency is the ISO 4217 number of the wallet currency of a verified
// owner, 0 when unknown.
func (s *Server) currency(owner string) int {
	v, _ := s.verified.Peek(owner)
	return translate.CurrencyNumber(v.currency)
}

// release voids a journaled purchase that did not happen, and reports
// whether it did. If the store fails, the row stays pending and the
// Reconciler voids it later.
func (s *Server) release(ctx context.Context, legacyID int64) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.CompensationTimeout)
	defer cancel()
	if err := s.ids.Release(ctx, legacyID); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "releasing unbought purchase failed; the reconciler will retry",
			slog.Int64("legacy_id", legacyID), slog.String("err", err.Error()))
		return false
	}
	return true
}

// compensate cancels (refunds) a purchase the shim cannot answer. It runs
// to its own deadline even when the client has gone. When the cancel fails
// too, it logs what a person needs to reconcile by hand; the row, if still
// pending, is retried by the Reconciler.
func (s *Server) compensate(ctx context.Context, key, owner string, legacyID int64, nativeID string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.CompensationTimeout)
	defer cancel()
	_, err := s.api.Cancel(ctx, key, nativeID)
	if err != nil && !errors.Is(err, &upstream.APIError{Code: upstream.CodeInvalidState}) {
		s.tel.compensation(ctx, false)
		s.log.LogAttrs(ctx, slog.LevelError, "refund of unstored purchase failed",
			slog.Int64("legacy_id", legacyID), slog.String("native_id", nativeID), slog.String("owner", owner),
			slog.String("cause", cause.Error()), slog.String("err", err.Error()))
		return
	}
	s.tel.compensation(ctx, true)
	s.log.LogAttrs(ctx, slog.LevelWarn, "purchase refunded: it could not be answered",
		slog.Int64("legacy_id", legacyID), slog.String("native_id", nativeID), slog.String("owner", ShortOwner(owner)),
		slog.String("cause", cause.Error()))
	s.release(ctx, legacyID)
}

// activation finds the native ID behind a legacy ID of this key.
func (s *Server) activation(ctx context.Context, req translate.Request, owner string) (string, error) {
	id, err := translate.ParseID(req.ID)
	if err != nil {
		return "", err
	}
	return s.lookup(ctx, owner, id)
}

// lookup finds the native ID behind a valid legacy ID of this key.
func (s *Server) lookup(ctx context.Context, owner string, id int64) (string, error) {
	recordFrom(ctx).setLegacyID(id)
	nativeID, err := s.ids.Lookup(ctx, owner, id)
	if errors.Is(err, idmap.ErrNotFound) {
		return "", &translate.Error{Code: translate.NoActivation}
	}
	if err != nil {
		return "", fmt.Errorf("looking up activation: %w", err)
	}
	return nativeID, nil
}

func (s *Server) setStatus(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	id, err := translate.ParseID(req.ID)
	if err != nil {
		return nil, err
	}
	op, err := translate.ParseSetStatus(req.Status)
	if err != nil {
		return nil, err
	}
	return s.set(ctx, req.APIKey, owner, id, op)
}

// set moves the activation with legacy ID id to where op takes it.
func (s *Server) set(ctx context.Context, key, owner string, id int64, op translate.SetOp) ([]byte, error) {
	nativeID, err := s.lookup(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	call := s.api.Ready
	switch op {
	case translate.OpRetry:
		call = s.api.Retry
	case translate.OpComplete:
		call = s.api.Complete
	case translate.OpCancel:
		call = s.api.Cancel
	}
	_, err = call(ctx, key, nativeID)
	s.polls.forget(owner, nativeID) // whatever the outcome: a long-poll must not answer what was read before
	if errors.Is(err, &upstream.APIError{Code: upstream.CodeInvalidState}) {
		// A bot that repeats a setStatus whose answer it lost (it got
		// ERROR_SQL) hears success if the activation is already there; if
		// that cannot be read, the truth is unknown: ERROR_SQL again.
		act, gerr := s.api.Activation(ctx, key, nativeID)
		switch {
		case gerr != nil:
			return nil, &translate.Error{Code: translate.ErrorSQL, Err: fmt.Errorf("confirming a refused status change: %w", gerr)}
		case op.Reached(act.Status):
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return translate.SetStatusBody(op), nil
}

func (s *Server) getNumbersStatus(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	c, cat, offers, snap, err := s.countryStock(ctx, req)
	if err != nil {
		return nil, err
	}
	return snap.render(renderKey{kind: "numbersStatus", country: c.ID, gen: cat.gen}, func() ([]byte, error) {
		return translate.NumbersStatusBody(s.opt.Profile, c.ID, c.ISO, cat.list, offers), nil
	})
}

// countryStock is what getNumbersStatus and the per-country service lists
// start from: the request's country (the default when it names none), the
// native service catalog, the offers there and the snapshot they come
// from (nil if none).
func (s *Server) countryStock(ctx context.Context, req translate.Request) (countries.Country, serviceCatalog, []upstream.Offer, *offerSnapshot, error) {
	c, err := s.country(ctx, req.Country)
	if err != nil {
		return c, serviceCatalog{}, nil, nil, err
	}
	cat, err := s.catalogFor(req.APIKey).serviceSet(ctx, req.APIKey)
	if err != nil {
		return c, cat, nil, nil, err
	}
	offers, snap, err := s.catalogFor(req.APIKey).offersWhere(ctx, req.APIKey, upstream.OfferFilter{CountryISO: c.ISO})
	return c, cat, offers, snap, err
}

func (s *Server) getPrices(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	return s.prices(ctx, req, "prices", translate.PricesBody)
}

func (s *Server) getPricesExtended(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	return s.prices(ctx, req, "pricesExtended", translate.PricesExtendedBody)
}

// prices answers a getPrices-like request with render. The answer with no
// filter, several MB, is rendered once per offer snapshot.
func (s *Server) prices(ctx context.Context, req translate.Request, kind string, render func([]translate.PriceOffer) ([]byte, error)) ([]byte, error) {
	snap, offers, named, err := s.pricedOffers(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Country == "" && req.Service == "" {
		return snap.render(renderKey{kind: kind, country: -1}, func() ([]byte, error) { return render(s.priceOffers(offers, nil)) })
	}
	return render(s.priceOffers(offers, named))
}

// pricedOffers are the offers a getPrices request asks for, by its
// optional country and service, the snapshot they come from (nil if none),
// and the country it named.
func (s *Server) pricedOffers(ctx context.Context, req translate.Request) (*offerSnapshot, []upstream.Offer, *countries.Country, error) {
	var f upstream.OfferFilter
	var named *countries.Country
	if req.Country != "" {
		c, err := s.country(ctx, req.Country)
		if err != nil {
			return nil, nil, nil, err
		}
		f.CountryISO, named = c.ISO, &c
	}
	if req.Service != "" {
		svc, err := s.service(ctx, req.APIKey, req.Service)
		if err != nil {
			return nil, nil, nil, err
		}
		f.ServiceCode = svc
	}
	offers, snap, err := s.catalogFor(req.APIKey).offersWhere(ctx, req.APIKey, f)
	if err != nil {
		return nil, nil, nil, err
	}
	return snap, offers, named, nil
}

func (s *Server) getCountries(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	sold, err := s.catalogFor(req.APIKey).soldCountries(ctx, req.APIKey)
	if err != nil {
		return nil, err
	}
	all := s.cc.Table().All()
	rows := all[:0]
	for _, c := range all {
		if _, ok := sold[c.ISO]; ok {
			rows = append(rows, c)
		}
	}
	return translate.CountriesBody(s.opt.Profile, rows), nil
}
