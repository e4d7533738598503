package translate

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// TopCountriesBody is getTopCountriesByService's answer for one service:
// the countries that sell it, most stock first (then cheapest, then lowest
// ID), keyed by rank from "0":
// {"0":{"country":62,"count":43575,"price":0.5,"retail_price":0.5}}, and
// with freePrice a "freePriceMap" of price to stock ({"0.50":43575}).
// price and retail_price are the same JSON number: SMSBulk has one price.
// Offers without stock are left out.
func TopCountriesBody(offers []PriceOffer, freePrice bool) ([]byte, error) {
	type row struct {
		id    int
		price decimal.Decimal
		text  string
		count int64
	}
	rows := make([]row, 0, len(offers))
	for _, o := range offers {
		if o.Stock <= 0 {
			continue
		}
		p, err := decimal.NewFromString(string(o.Price))
		if err != nil || !o.Price.IsValid() {
			return nil, badAnswer("price %q", string(o.Price))
		}
		text, _ := money(o.Price)
		rows = append(rows, row{id: o.CountryID, price: p, text: text, count: o.Stock})
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		if c := a.price.Cmp(b.price); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	b := []byte{'{'}
	for i, r := range rows {
		b = appendMember(b, i, i)
		b = append(b, `{"country":`...)
		b = strconv.AppendInt(b, int64(r.id), 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, r.count, 10)
		b = append(b, `,"price":`...)
		b = append(b, r.price.String()...)
		b = append(b, `,"retail_price":`...)
		b = append(b, r.price.String()...)
		if freePrice {
			b = append(b, `,"freePriceMap":{`...)
			b = appendString(b, r.text)
			b = append(b, ':')
			b = strconv.AppendInt(b, r.count, 10)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// OperatorsBody is getOperators's answer for the given legacy country IDs:
// {"status":"success","countryOperators":{"62":["any"]}}. The native API
// has no operator catalog, so every country has the one operator that is
// true of it, "any". No country is OPERATORS_NOT_FOUND (as an error).
func OperatorsBody(countryIDs []int) ([]byte, error) {
	if len(countryIDs) == 0 {
		return nil, fail(OperatorsNotFound)
	}
	ids := slices.Clone(countryIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	b := []byte(`{"status":"success","countryOperators":{`)
	for i, id := range ids {
		b = appendMember(b, i, id)
		b = append(b, `["any"]`...)
	}
	return append(b, "}}"...), nil
}

// ServicesListBody is getServicesList's answer, the services in code order:
// {"status":"success","services":[{"code":"wa","name":"WhatsApp"}]}.
func ServicesListBody(services []upstream.Service) []byte {
	list := slices.Clone(services)
	slices.SortFunc(list, func(a, b upstream.Service) int { return cmp.Compare(a.Code, b.Code) })
	list = slices.CompactFunc(list, func(a, b upstream.Service) bool { return a.Code == b.Code })
	type svc struct {
		Code string `json:"code"`
		Name string `json:"name"`
	}
	out := make([]svc, len(list))
	for i, s := range list {
		out[i] = svc{s.Code, s.Name}
	}
	b, _ := json.Marshal(struct {
		Status   string `json:"status"`
		Services []svc  `json:"services"`
	}{"success", out}) // strings always marshal
	return b
}
