package shim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

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
	s.verified.Add(owner, s.opt.Now())
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
	cat, err := s.catalog.serviceSet(ctx, key)
	if err != nil {
		return "", err
	}
	if _, ok := cat.set[code]; !ok {
		return "", &translate.Error{Code: translate.BadService}
	}
	recordFrom(ctx).setService(code)
	return code, nil
}

// getNumber buys a number. Once the request is valid and the key known
// to the backend (checkKey), the purchase is journaled first (a pending row
// that holds the sealed key and purchase and reserves the legacy ID), then
// bought with its own Idempotency-Key, then committed; only a committed row
// is answered ACCESS_NUMBER. A purchase that cannot be committed is
// cancelled (refunded) at once; one whose outcome is unknown stays pending
// and the Reconciler settles it.
func (s *Server) getNumber(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	// Everything that needs no native call is checked first.
	c, err := s.country(ctx, req.Country)
	if err != nil {
		return nil, err
	}
	maxPrice, err := translate.ParseMaxPrice(req.MaxPrice)
	if err != nil {
		return nil, err
	}
	operator, err := translate.ParseOperator(req.Operator)
	if err != nil {
		return nil, err
	}
	svc, err := s.service(ctx, req.APIKey, req.Service)
	if err != nil {
		return nil, err
	}
	buy := upstream.BuyRequest{ServiceCode: svc, CountryISO: c.ISO, MaxPrice: maxPrice, Operator: operator}
	if err := s.checkKey(ctx, req.APIKey, owner); err != nil {
		return nil, err
	}
	sealed, err := s.opt.Keys.seal(owner, intent{APIKey: req.APIKey, Buy: buy})
	if err != nil {
		return nil, err
	}
	idem := newIdempotencyKey()
	legacyID, err := s.ids.Reserve(ctx, idmap.Reservation{Owner: owner, IdemKey: idem, Intent: sealed})
	if err != nil {
		return nil, fmt.Errorf("journaling purchase: %w", err)
	}
	rec := recordFrom(ctx)
	rec.setLegacyID(legacyID)

	act, err := s.api.Buy(ctx, req.APIKey, buy, idem)
	if err != nil {
		var api *upstream.APIError
		var te *upstream.TransportError
		if errors.As(err, &api) && api.Status < 500 || errors.As(err, &te) && te.NotSent {
			// The backend answered no, or never got the request (a failed
			// dial, an open circuit breaker): nothing was bought.
			s.release(ctx, legacyID)
		}
		// Otherwise the outcome is unknown; the row stays pending and the
		// Reconciler replays the purchase with the same key and refunds it.
		return nil, err
	}
	rec.setNativeID(act.ID)
	body, err := translate.NumberBody(legacyID, act)
	if err == nil {
		err = s.ids.Commit(ctx, legacyID, act.ID)
	}
	if err != nil {
		s.compensate(ctx, req.APIKey, owner, legacyID, act.ID, err)
		return nil, fmt.Errorf("storing purchase: %w", err)
	}
	return body, nil
}

// checkKey makes sure the backend knows the key before a purchase is
// journaled, so that a request with an unknown key (BAD_KEY) writes
// nothing. A key the backend accepted within verifiedFor is trusted; any
// other costs one balance call, the cheapest native call there is.
func (s *Server) checkKey(ctx context.Context, key, owner string) error {
	now := s.opt.Now()
	if at, ok := s.verified.Get(owner); ok && now.Sub(at) < verifiedFor {
		return nil
	}
	if _, err := s.api.Balance(ctx, key); err != nil {
		return err
	}
	s.verified.Add(owner, now)
	return nil
}

// release voids a journaled purchase that did not happen. If the store
// fails, the row stays pending and the Reconciler voids it later.
func (s *Server) release(ctx context.Context, legacyID int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.CompensationTimeout)
	defer cancel()
	if err := s.ids.Release(ctx, legacyID); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "releasing unbought purchase failed; the reconciler will retry",
			slog.Int64("legacy_id", legacyID), slog.String("err", err.Error()))
	}
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
	s.log.LogAttrs(ctx, slog.LevelWarn, "purchase refunded: it could not be stored",
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

func (s *Server) getStatus(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	nativeID, err := s.activation(ctx, req, owner)
	if err != nil {
		return nil, err
	}
	act, err := s.api.Activation(ctx, req.APIKey, nativeID)
	if err != nil {
		return nil, err
	}
	return translate.StatusBody(act)
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
	_, err = call(ctx, req.APIKey, nativeID)
	if errors.Is(err, &upstream.APIError{Code: upstream.CodeInvalidState}) {
		// A bot that repeats a setStatus whose answer it lost (it got
		// ERROR_SQL) hears success if the activation is already there.
		if act, gerr := s.api.Activation(ctx, req.APIKey, nativeID); gerr == nil && op.Reached(act.Status) {
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return translate.SetStatusBody(op), nil
}

func (s *Server) getNumbersStatus(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	c, err := s.country(ctx, req.Country)
	if err != nil {
		return nil, err
	}
	cat, err := s.catalog.serviceSet(ctx, req.APIKey)
	if err != nil {
		return nil, err
	}
	offers, err := s.api.Offers(ctx, req.APIKey, upstream.OfferFilter{CountryISO: c.ISO})
	if err != nil {
		return nil, err
	}
	return translate.NumbersStatusBody(s.opt.Profile, c.ID, c.ISO, cat.list, offers), nil
}

func (s *Server) getPrices(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	var f upstream.OfferFilter
	named := -1
	if req.Country != "" {
		c, err := s.country(ctx, req.Country)
		if err != nil {
			return nil, err
		}
		f.CountryISO, named = c.ISO, c.ID
	}
	if req.Service != "" {
		svc, err := s.service(ctx, req.APIKey, req.Service)
		if err != nil {
			return nil, err
		}
		f.ServiceCode = svc
	}
	offers, err := s.api.Offers(ctx, req.APIKey, f)
	if err != nil {
		return nil, err
	}
	table := s.cc.Table()
	priced := make([]translate.PriceOffer, 0, len(offers))
	for _, o := range offers {
		id := named
		if id < 0 || !strings.EqualFold(o.CountryISO, f.CountryISO) {
			c, ok := table.PrimaryByISO(o.CountryISO)
			if !ok {
				continue // a country the legacy table has no ID for
			}
			id = c.ID
		}
		priced = append(priced, translate.PriceOffer{CountryID: id, Offer: o})
	}
	return translate.PricesBody(priced)
}

func (s *Server) getCountries(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	sold, err := s.catalog.soldCountries(ctx, req.APIKey)
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
