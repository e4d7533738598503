package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// The catalog calls below read 2xx bodies up to Options.MaxCatalogBodyBytes;
// a body larger than that, or not the contract's JSON, fails the call with a
// *TransportError and is not held against the circuit breaker.

// Countries lists the countries the backend sells numbers in
// (GET /catalog/countries).
func (c *Client) Countries(ctx context.Context, apiKey string) ([]Country, error) {
	type body struct {
		Countries []Country `json:"countries"`
	}
	r := &request{op: "countries", method: http.MethodGet, path: "/catalog/countries", timeout: c.timeout, catalog: true}
	out, err := call(ctx, c, apiKey, r, func(v *body) error {
		if v.Countries == nil {
			return errors.New("countries missing")
		}
		return nil
	})
	return out.Countries, err
}

// Services lists the services the backend sells numbers for
// (GET /catalog/services).
func (c *Client) Services(ctx context.Context, apiKey string) ([]Service, error) {
	type body struct {
		Services []Service `json:"services"`
	}
	r := &request{op: "services", method: http.MethodGet, path: "/catalog/services", timeout: c.timeout, catalog: true}
	out, err := call(ctx, c, apiKey, r, func(v *body) error {
		if v.Services == nil {
			return errors.New("services missing")
		}
		return nil
	})
	return out.Services, err
}

// Offers lists price and stock per service and country
// (GET /catalog/offers), narrowed by f; an empty field of f is not sent. An
// empty filter asks for the whole catalog, several MB.
// Prices stay the decimal strings (or JSON numbers) the backend sent.
func (c *Client) Offers(ctx context.Context, apiKey string, f OfferFilter) ([]Offer, error) {
	type body struct {
		Offers []Offer `json:"offers"`
	}
	q := url.Values{}
	if f.CountryISO != "" {
		q.Set("countryIso", f.CountryISO)
	}
	if f.ServiceCode != "" {
		q.Set("serviceCode", f.ServiceCode)
	}
	r := &request{op: "offers", method: http.MethodGet, path: "/catalog/offers", query: q, timeout: c.timeout, catalog: true}
	out, err := call(ctx, c, apiKey, r, func(v *body) error {
		if v.Offers == nil {
			return errors.New("offers missing")
		}
		for i := range v.Offers {
			if v.Offers[i].Price == "" {
				return errors.New("offer price missing")
			}
		}
		return nil
	})
	return out.Offers, err
}
