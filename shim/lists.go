package shim

import (
	"context"
	"strings"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// getTopCountries is getTopCountriesByService (and its Rank and ListOf
// names): the countries that sell a service, by stock. The service is
// required (BAD_SERVICE without one).
func (s *Server) getTopCountries(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	svc, err := s.service(ctx, req.APIKey, req.Service)
	if err != nil {
		return nil, err
	}
	offers, _, err := s.catalogFor(req.APIKey).offersWhere(ctx, req.APIKey, upstream.OfferFilter{ServiceCode: svc})
	if err != nil {
		return nil, err
	}
	return translate.TopCountriesBody(s.priceOffers(offers, nil), strings.EqualFold(strings.TrimSpace(req.FreePrice), "true"))
}

// getOperators lists "any" for the named country, or for every country
// the backend sells when none is named; a country it does not sell is
// OPERATORS_NOT_FOUND.
func (s *Server) getOperators(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	sold, err := s.catalogFor(req.APIKey).soldCountries(ctx, req.APIKey)
	if err != nil {
		return nil, err
	}
	var ids []int
	if req.Country != "" {
		c, err := s.country(ctx, req.Country)
		if err != nil {
			return nil, err
		}
		if _, ok := sold[c.ISO]; ok {
			ids = append(ids, c.ID)
		}
	} else {
		for _, c := range s.cc.Table().All() {
			if _, ok := sold[c.ISO]; ok {
				ids = append(ids, c.ID)
			}
		}
	}
	return translate.OperatorsBody(ids)
}

// getServicesList lists the services of the native catalog; with a
// country, those with stock there.
func (s *Server) getServicesList(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	if req.Country == "" {
		cat, err := s.catalogFor(req.APIKey).serviceSet(ctx, req.APIKey)
		if err != nil {
			return nil, err
		}
		return translate.ServicesListBody(cat.list), nil
	}
	return s.servicesIn(ctx, req)
}

// getAvailableServicesByCountry lists the services with stock in the
// named country (the default country when none is named), as
// getServicesList does.
func (s *Server) getAvailableServicesByCountry(ctx context.Context, req translate.Request, _ string) ([]byte, error) {
	return s.servicesIn(ctx, req)
}

func (s *Server) servicesIn(ctx context.Context, req translate.Request) ([]byte, error) {
	c, cat, offers, _, err := s.countryStock(ctx, req)
	if err != nil {
		return nil, err
	}
	stocked := make(map[string]bool, len(offers))
	for _, o := range offers {
		if o.Stock > 0 && strings.EqualFold(o.CountryISO, c.ISO) {
			stocked[o.ServiceCode] = true
		}
	}
	list := make([]upstream.Service, 0, len(stocked))
	for _, svc := range cat.list {
		if stocked[svc.Code] {
			list = append(list, svc)
		}
	}
	return translate.ServicesListBody(list), nil
}

// getPricesVerification is the price list of numbers for call
// verification. SMSBulk sells none (getNumber with verification=true is
// NO_NUMBERS), so the list is empty: {}.
func (s *Server) getPricesVerification(context.Context, translate.Request, string) ([]byte, error) {
	return []byte("{}"), nil
}

// priceOffers gives each offer the legacy country IDs it is answered
// under: the one the request named for its country, else every ID of its
// ISO code (the USA under 12 and 187), so that a client finds a country by
// any ID it knows. Offers of countries the table has no ID for are left
// out.
func (s *Server) priceOffers(offers []upstream.Offer, named *countries.Country) []translate.PriceOffer {
	table := s.cc.Table()
	out := make([]translate.PriceOffer, 0, len(offers))
	for _, o := range offers {
		if named != nil && strings.EqualFold(o.CountryISO, named.ISO) {
			out = append(out, translate.PriceOffer{CountryID: named.ID, Offer: o})
			continue
		}
		for _, c := range table.ByISO(o.CountryISO) {
			out = append(out, translate.PriceOffer{CountryID: c.ID, Offer: o})
		}
	}
	return out
}
