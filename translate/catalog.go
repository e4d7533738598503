package translate

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// NumbersStatusBody is getNumbersStatus's answer for one country: the stock
// of every catalog service there, in service code order. In
// ProfileSMSActivate the keys are <service>_0 (the original's suffix is the
// forwarding flag, and the shim sells no forwarding) and the counts JSON
// strings, as the original sent them: {"tg_0":"0","wa_0":"262"}. In
// ProfileSMSBulk the keys are <service>_<countryID> and the counts integers:
// {"tg_62":0,"wa_62":262}. Offers of other countries are ignored; a service
// without an offer counts 0; negative stock counts 0.
func NumbersStatusBody(p Profile, countryID int, iso string, services []upstream.Service, offers []upstream.Offer) []byte {
	stock := make(map[string]int64, len(offers))
	for _, o := range offers {
		if strings.EqualFold(o.CountryISO, iso) && o.Stock > 0 {
			stock[o.ServiceCode] += o.Stock
		}
	}
	codes := make([]string, 0, len(services)+len(forwarding))
	for _, s := range services {
		codes = append(codes, s.Code)
	}
	if p == ProfileSMSActivate {
		codes = append(codes, forwarding...)
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)

	suffix := "_0"
	if p == ProfileSMSBulk {
		suffix = "_" + strconv.Itoa(countryID)
	}
	b := make([]byte, 0, 16*len(codes)+2)
	b = append(b, '{')
	for i, c := range codes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c+suffix)
		b = append(b, ':')
		if p == ProfileSMSBulk {
			b = strconv.AppendInt(b, stock[c], 10)
			continue
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, stock[c], 10)
		b = append(b, '"')
		if slices.Contains(forwarding, c) {
			b = append(b, ',')
			b = appendString(b, c+"_1")
			b = append(b, `:"0"`...)
		}
	}
	return append(b, '}')
}

// forwarding are the services that the original sold with call forwarding
// too, whose <service>_1 keys clients index in getNumbersStatus (a Python
// client fails on the first missing one). The native API sells no
// forwarding: they count "0", and the services themselves are listed even
// when the catalog lacks them.
var forwarding = []string{"av", "ot", "ya", "ym"}

// PriceOffer is one offer with the legacy country ID it is answered under.
type PriceOffer struct {
	CountryID int
	upstream.Offer
}

// PricesBody is getPrices's answer, the same in both profiles:
// {"<countryID>":{"<service>":{"cost":<number>,"count":<int>}}}, countries
// in ID order and services in code order. cost is a JSON number written
// from the decimal string without float rounding and without trailing zeros
// ("0.50" -> 0.5, "21.00" -> 21), as the original printed it. When one
// country and service meet twice, the cheapest offer is kept with the stock
// of both.
func PricesBody(offers []PriceOffer) ([]byte, error) { return prices(offers, false) }

// PricesExtendedBody is getPricesExtended's answer: getPrices's, each cell
// with "physicalCount" too (the same stock: every SMSBulk number is real):
// {"62":{"wa":{"cost":0.5,"count":1234,"physicalCount":1234}}}.
func PricesExtendedBody(offers []PriceOffer) ([]byte, error) { return prices(offers, true) }

func prices(offers []PriceOffer, physical bool) ([]byte, error) {
	type cell struct {
		cost  decimal.Decimal
		count int64
	}
	byCountry := map[int]map[string]*cell{}
	for _, o := range offers {
		cost, err := decimal.NewFromString(string(o.Price))
		if err != nil || !o.Price.IsValid() {
			return nil, badAnswer("price %q", string(o.Price))
		}
		m := byCountry[o.CountryID]
		if m == nil {
			m = map[string]*cell{}
			byCountry[o.CountryID] = m
		}
		count := max(o.Stock, 0)
		if c := m[o.ServiceCode]; c != nil {
			c.count += count
			if cost.LessThan(c.cost) {
				c.cost = cost
			}
			continue
		}
		m[o.ServiceCode] = &cell{cost: cost, count: count}
	}
	ids := make([]int, 0, len(byCountry))
	for id := range byCountry {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := []byte{'{'}
	for i, id := range ids {
		b = appendMember(b, i, id)
		b = append(b, '{')
		m := byCountry[id]
		codes := make([]string, 0, len(m))
		for c := range m {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for j, c := range codes {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c)
			b = append(b, `:{"cost":`...)
			b = append(b, m[c].cost.String()...)
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, m[c].count, 10)
			if physical {
				b = append(b, `,"physicalCount":`...)
				b = strconv.AppendInt(b, m[c].count, 10)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// CountriesBody is getCountries's answer: the given rows of the canonical
// table (the caller keeps those the native catalog sells), in ID order.
// ProfileSMSActivate: an object keyed by ID with the original's fields and
// integer flags, plus "iso":
// {"0":{"id":0,"rus":"Россия","eng":"Russia","chn":"俄罗斯","visible":1,"retry":1,"rent":0,"multiService":0,"iso":"RU"}}.
// ProfileSMSBulk: [{"id":0,"iso":"RU"}].
func CountriesBody(p Profile, rows []countries.Country) []byte {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b countries.Country) int { return a.ID - b.ID })
	rows = slices.CompactFunc(rows, func(a, b countries.Country) bool { return a.ID == b.ID })
	if p == ProfileSMSBulk {
		b := make([]byte, 0, 24*len(rows)+2)
		b = append(b, '[')
		for i, c := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = strconv.AppendInt(b, int64(c.ID), 10)
			b = append(b, `,"iso":`...)
			b = appendString(b, c.ISO)
			b = append(b, '}')
		}
		return append(b, ']')
	}
	b := make([]byte, 0, 128*len(rows)+2)
	b = append(b, '{')
	for i, c := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		id := strconv.Itoa(c.ID)
		b = append(b, '"')
		b = append(b, id...)
		b = append(b, `":{"id":`...)
		b = append(b, id...)
		b = append(b, `,"rus":`...)
		b = appendString(b, c.Rus)
		b = append(b, `,"eng":`...)
		b = appendString(b, c.Eng)
		b = append(b, `,"chn":`...)
		b = appendString(b, c.Chn)
		b = appendFlag(b, `,"visible":`, c.Visible)
		b = appendFlag(b, `,"retry":`, c.Retry)
		b = appendFlag(b, `,"rent":`, c.Rent)
		b = appendFlag(b, `,"multiService":`, c.MultiService)
		b = append(b, `,"iso":`...)
		b = appendString(b, c.ISO)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendFlag(b []byte, key string, v bool) []byte {
	b = append(b, key...)
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}

// appendMember appends the name of the i-th member of a JSON object keyed
// by integers, "<key>": (with the comma before all but the first).
func appendMember(b []byte, i, key int) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(key), 10)
	return append(b, '"', ':')
}

// appendString appends s as a JSON string. Non-ASCII text stays UTF-8, as
// encoding/json writes it.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
