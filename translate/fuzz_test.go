package translate_test

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// fuzzValues splits a raw query into parameters without dropping any: a
// value that does not unescape is kept raw, so that names and values can be
// any bytes.
func fuzzValues(raw string) url.Values {
	v := url.Values{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if x, err := url.QueryUnescape(value); err == nil {
			value = x
		}
		v[name] = append(v[name], value)
	}
	return v
}

var (
	fuzzServiceCode = regexp.MustCompile(`^[a-z0-9_]{1,16}$`)
	fuzzOperator    = regexp.MustCompile(`^[a-z0-9_]+(,[a-z0-9_]+)*$`)
)

// FuzzParseRequest feeds arbitrary query strings and form bodies to
// ParseRequest and every validator the shim runs before a native call, and
// checks what each promises: the first value wins, and whatever a validator
// accepts has the shape that may be sent on.
func FuzzParseRequest(f *testing.F) {
	f.Add("api_key=k&action=getNumber&service=wa&country=0&maxPrice=1.50&operator=mts,beeline", "")
	f.Add("api_key=k&action=getStatus&id=100000001", "action=getBalance")
	f.Add("api_key=k&action=setStatus&id=007&status=-1", "")
	f.Add("action%20=getBalance&action=getPrices&api_key%09=k", "api_key=other")
	f.Add("id=9007199254740991&id=1&status=8&status=6", "")
	f.Add("id=9007199254740992&maxPrice=0.00&operator=any", "")
	f.Add("service=Whats%20App&maxPrice=-1&operator=MTS,,x", "")
	f.Add("api_key=%FF%00&action=get%C3%28&service=%E2%80%8B", "")
	f.Add("", "api_key=k&action=getCountries")
	services := translate.BuiltinServices()
	f.Fuzz(func(t *testing.T, query, body string) {
		sources := []url.Values{fuzzValues(query), fuzzValues(body)}
		req := translate.ParseRequest(sources...)

		fields := map[string]string{
			"api_key": req.APIKey, "action": string(req.Action), "service": req.Service, "country": req.Country,
			"id": req.ID, "status": req.Status, "maxPrice": req.MaxPrice, "operator": req.Operator,
		}
		for name, got := range fields {
			if vs := sources[0][name]; len(vs) > 0 {
				if got != vs[0] {
					t.Fatalf("%s = %q, want the first value %q", name, got, vs[0])
				}
				continue
			}
			named := false
			for _, src := range sources {
				for k, vs := range src {
					named = named || strings.TrimSpace(k) == name && len(vs) > 0
				}
			}
			if !named && got != "" {
				t.Fatalf("%s = %q, but no parameter has that name", name, got)
			}
		}

		for _, p := range []translate.Profile{translate.ProfileSMSActivate, translate.ProfileSMSBulk} {
			e := translate.CheckAction(req, p)
			switch {
			case e == nil:
				if strings.TrimSpace(req.APIKey) == "" || !req.Action.Known() {
					t.Fatalf("CheckAction(%q, %q) passed", req.APIKey, req.Action)
				}
			case strings.TrimSpace(req.APIKey) == "" && codeOf(e) != translate.BadKey:
				t.Fatalf("blank key gave %s", codeOf(e))
			case codeOf(e) == translate.WrongAction && p != translate.ProfileSMSBulk:
				t.Fatalf("WRONG_ACTION in profile %s", p)
			case !slices.Contains([]translate.Code{translate.BadKey, translate.BadAction, translate.WrongAction}, codeOf(e)):
				t.Fatalf("CheckAction gave %s", codeOf(e))
			}
		}

		id, e := translate.ParseID(req.ID)
		canonical := req.ID != "" && req.ID[0] != '0' && len(req.ID) <= 16 && strings.Trim(req.ID, "0123456789") == ""
		switch {
		case e == nil:
			if id < 1 || id > 1<<53-1 || strings.Trim(req.ID, "0123456789") != "" ||
				strconv.FormatInt(id, 10) != strings.TrimLeft(req.ID, "0") {
				t.Fatalf("ParseID(%q) = %d", req.ID, id)
			}
		case codeOf(e) != translate.NoActivation:
			t.Fatalf("ParseID(%q) gave %s", req.ID, codeOf(e))
		case canonical:
			if n, err := strconv.ParseInt(req.ID, 10, 64); err == nil && n <= 1<<53-1 {
				t.Fatalf("ParseID(%q) refused an ID in range", req.ID)
			}
		}

		op, e := translate.ParseSetStatus(req.Status)
		valid := slices.Contains([]string{"1", "3", "6", "8", "-1"}, req.Status)
		if (e == nil) != valid || e != nil && codeOf(e) != translate.BadStatus || e == nil && op.String() == "unknown" {
			t.Fatalf("ParseSetStatus(%q) = %v, %v", req.Status, op, e)
		}

		price, e := translate.ParseMaxPrice(req.MaxPrice)
		switch {
		case e != nil:
			if codeOf(e) != translate.BadAction {
				t.Fatalf("ParseMaxPrice(%q) gave %s", req.MaxPrice, codeOf(e))
			}
		case price != "":
			s := string(price)
			if !price.IsValid() || len(s) > 12 || s[0] == '-' || strings.Trim(s, "0.") == "" {
				t.Fatalf("ParseMaxPrice(%q) = %q", req.MaxPrice, price)
			}
			if _, err := price.MarshalJSON(); err != nil {
				t.Fatalf("ParseMaxPrice(%q) = %q, which does not encode: %v", req.MaxPrice, price, err)
			}
		case strings.TrimSpace(req.MaxPrice) != "":
			t.Fatalf("ParseMaxPrice(%q) dropped the limit", req.MaxPrice)
		}

		operator, e := translate.ParseOperator(req.Operator)
		switch {
		case e != nil:
			if codeOf(e) != translate.BadAction {
				t.Fatalf("ParseOperator(%q) gave %s", req.Operator, codeOf(e))
			}
		case operator != "" && (len(operator) > 64 || !fuzzOperator.MatchString(operator)):
			t.Fatalf("ParseOperator(%q) = %q", req.Operator, operator)
		}

		code, e := services.Code(req.Service)
		switch {
		case e != nil:
			if codeOf(e) != translate.BadService {
				t.Fatalf("Services.Code(%q) gave %s", req.Service, codeOf(e))
			}
		case !fuzzServiceCode.MatchString(code):
			t.Fatalf("Services.Code(%q) = %q", req.Service, code)
		}
	})
}
