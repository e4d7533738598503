package translate

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// Action is a legacy action name.
type Action string

// The seven actions of the product page.
const (
	GetBalance       Action = "getBalance"
	GetNumber        Action = "getNumber"
	GetStatus        Action = "getStatus"
	SetStatus        Action = "setStatus"
	GetNumbersStatus Action = "getNumbersStatus"
	GetPrices        Action = "getPrices"
	GetCountries     Action = "getCountries"
)

// The other actions of the original that the native API can serve, and the
// other names clients call some of them by.
const (
	GetNumberV2                    Action = "getNumberV2"
	GetBalanceAndCashBack          Action = "getBalanceAndCashBack"
	GetActiveActivations           Action = "getActiveActivations"
	GetCurrentActivations          Action = "getCurrentActivations"
	GetListOfActiveActivations     Action = "getListOfActiveActivations"
	GetTopCountriesByService       Action = "getTopCountriesByService"
	GetTopCountriesByServiceRank   Action = "getTopCountriesByServiceRank"
	GetListOfTopCountriesByService Action = "getListOfTopCountriesByService"
	GetOperators                   Action = "getOperators"
	GetFullSMS                     Action = "getFullSms"
	GetStatusV2                    Action = "getStatusV2"
	GetServicesList                Action = "getServicesList"
	GetPricesExtended              Action = "getPricesExtended"
	GetPricesVerification          Action = "getPricesVerification"
	GetAvailableServicesByCountry  Action = "getAvailableServicesByCountry"
	FinishActivation               Action = "finishActivation"
	CancelActivation               Action = "cancelActivation"
)

// Actions lists every action the shim serves: the product page's seven in
// its order, then the others.
func Actions() []Action {
	return []Action{GetBalance, GetNumber, GetStatus, SetStatus, GetNumbersStatus, GetPrices, GetCountries,
		GetNumberV2, GetBalanceAndCashBack, GetActiveActivations, GetCurrentActivations, GetListOfActiveActivations,
		GetTopCountriesByService, GetTopCountriesByServiceRank, GetListOfTopCountriesByService, GetOperators,
		GetFullSMS, GetStatusV2, GetServicesList, GetPricesExtended, GetPricesVerification,
		GetAvailableServicesByCountry, FinishActivation, CancelActivation}
}

// Known reports whether the shim serves a.
func (a Action) Known() bool {
	switch a {
	case GetBalance, GetNumber, GetStatus, SetStatus, GetNumbersStatus, GetPrices, GetCountries,
		GetNumberV2, GetBalanceAndCashBack, GetActiveActivations, GetCurrentActivations, GetListOfActiveActivations,
		GetTopCountriesByService, GetTopCountriesByServiceRank, GetListOfTopCountriesByService, GetOperators,
		GetFullSMS, GetStatusV2, GetServicesList, GetPricesExtended, GetPricesVerification,
		GetAvailableServicesByCountry, FinishActivation, CancelActivation:
		return true
	}
	return false
}

// Request is a legacy request's parameters, as sent (untrimmed values). A
// parameter that was absent and one that was empty are both "".
type Request struct {
	APIKey   string
	Action   Action
	Service  string
	Country  string
	ID       string
	Status   string
	MaxPrice string
	Operator string
	// The purchase options the native API cannot honour as such (see
	// ParsePurchaseOptions): phoneException, forward, activationType,
	// verification.
	PhoneException string
	Forward        string
	ActivationType string
	Verification   string
	// FreePrice is getTopCountriesByService's "true" for the free-price map.
	FreePrice string
	// Start and Length page getListOfActiveActivations.
	Start  string
	Length string
	// RequestID is getNumber's and getNumberV2's optional requestId (see
	// ParseRequestID).
	RequestID string
	// Wait is getStatus's and getStatusV2's optional wait, the seconds
	// the answer may wait for the status to stop waiting (see ParseWait).
	Wait string
	// Callback is getNumber's and getNumberV2's optional callback URL (see
	// ParseCallback).
	Callback string
}

// params are the parameter names the shim reads, in Request's field order;
// everything else (lang, ref, useCashBack, ...) is ignored.
var params = [...]string{"api_key", "action", "service", "country", "id", "status", "maxPrice", "operator",
	"phoneException", "forward", "activationType", "verification", "freePrice", "start", "length", "requestId", "wait", "callback"}

// ParseRequest reads a Request from parameter sources in order of
// precedence (the shim passes the query string first, then the form body).
// Parameter names are trimmed of surrounding white space; when a name is
// repeated the first value wins: the first source that has it, and within
// it the exact name before a trimmed one, and the first value.
func ParseRequest(sources ...url.Values) Request {
	var got [len(params)]string
	var padded [4]bool
	for i, src := range sources[:min(len(sources), len(padded))] {
		padded[i] = hasPadded(src)
	}
	for i, name := range params {
		got[i] = lookup(name, sources, padded[:])
	}
	return requestOf(&got)
}

// hasPadded reports whether a name of src has white space around it.
func hasPadded(src url.Values) bool {
	for k := range src {
		if k != strings.TrimSpace(k) {
			return true
		}
	}
	return false
}

// lookup is the first value of name in sources. padded[i] tells whether
// sources[i] has a name with white space around it; past len(padded), a
// source is searched as if it had.
func lookup(name string, sources []url.Values, padded []bool) string {
	for i, src := range sources {
		if v, ok := src[name]; ok && len(v) > 0 {
			return v[0]
		}
		if i < len(padded) && !padded[i] {
			continue
		}
		// A name sent with white space around it ("country "): take the
		// smallest such key, so the choice does not depend on map order.
		var keys []string
		for k := range src {
			if k != name && strings.TrimSpace(k) == name && len(src[k]) > 0 {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			sort.Strings(keys)
			return src[keys[0]][0]
		}
	}
	return ""
}

// CheckAction validates the key and the action, in that order: a key that
// is not ValidKey (absent, empty, too long, not printable) is BAD_KEY; an absent or empty action BAD_ACTION; an unknown
// action BAD_ACTION in ProfileSMSActivate (as the original) and
// WRONG_ACTION in ProfileSMSBulk (as the product page).
func CheckAction(r Request, p Profile) error {
	if !ValidKey(r.APIKey) {
		return fail(BadKey)
	}
	if r.Action == "" {
		return fail(BadAction)
	}
	if !r.Action.Known() {
		if p == ProfileSMSBulk && validName(string(r.Action)) {
			return fail(WrongAction)
		}
		return fail(BadAction)
	}
	return nil
}

// validName reports whether s looks like an action name at all (ASCII
// letters and digits, at most 64): anything else is "malformed", which the
// product page answers with BAD_ACTION even in ProfileSMSBulk.
func validName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// maxLegacyID is the largest legacy ID accepted: 2^53-1, the largest
// integer JavaScript clients can hold exactly.
const maxLegacyID = 1<<53 - 1

// ParseID reads a legacy activation ID: ASCII digits only (no sign, no
// spaces, at most 16 of them), a value from 1 to 2^53-1. Anything else is
// NO_ACTIVATION, which is what a bot would get for an ID it was never given.
func ParseID(s string) (int64, error) {
	if len(s) == 0 || len(s) > 16 {
		return 0, fail(NoActivation)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fail(NoActivation)
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || id > maxLegacyID {
		return 0, fail(NoActivation)
	}
	return id, nil
}

// SetOp is the native call a setStatus value asks for.
type SetOp uint8

// The setStatus operations: 1 ready, 3 retry, 6 complete, 8 (and the old
// -1) cancel.
const (
	OpReady SetOp = iota + 1
	OpRetry
	OpComplete
	OpCancel
)

// String names the native call, as upstream's client does.
func (op SetOp) String() string {
	switch op {
	case OpReady:
		return "ready"
	case OpRetry:
		return "retry"
	case OpComplete:
		return "complete"
	case OpCancel:
		return "cancel"
	}
	return "unknown"
}

// Reached reports whether an activation in native status st is already
// where op takes it: cancelled (or ended with a refund) for OpCancel,
// completed for OpComplete, waiting for another SMS for OpRetry. The shim
// answers a repeated setStatus with success then, instead of BAD_STATUS.
func (op SetOp) Reached(st upstream.Status) bool {
	switch op {
	case OpCancel:
		return st.Refunded()
	case OpComplete:
		return st == upstream.StatusCompleted
	case OpRetry:
		return st == upstream.StatusRetryWaiting
	}
	return false
}

// ParseSetStatus reads setStatus's status value: "1", "3", "6", "8" and the
// old cancel code "-1". Anything else is BAD_STATUS, before any native call.
func ParseSetStatus(s string) (SetOp, error) {
	switch s {
	case "1":
		return OpReady, nil
	case "3":
		return OpRetry, nil
	case "6":
		return OpComplete, nil
	case "8", "-1":
		return OpCancel, nil
	}
	return 0, fail(BadStatus)
}

// SetStatusBody is the legacy answer to a setStatus that succeeded.
func SetStatusBody(op SetOp) []byte {
	switch op {
	case OpReady:
		return []byte("ACCESS_READY")
	case OpRetry:
		return []byte("ACCESS_RETRY_GET")
	case OpComplete:
		return []byte("ACCESS_ACTIVATION")
	default:
		return []byte("ACCESS_CANCEL")
	}
}

// ParseMaxPrice reads getNumber's optional maxPrice: "" is no limit;
// otherwise a plain positive decimal with a dot ("1.50", "2"), at most 12
// characters. A malformed value is BAD_ACTION (a malformed parameter, in
// the page's words): ignoring it could buy above the bot's limit.
func ParseMaxPrice(s string) (upstream.Decimal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	d := upstream.Decimal(s)
	if len(s) > 12 || s[0] == '-' || !d.IsValid() || strings.Trim(s, "0.") == "" {
		return "", fail(BadAction)
	}
	return d, nil
}

// ParseOperator reads getNumber's optional operator: "" (and "any") is
// none; otherwise a comma list of lower-case operator names ([a-z0-9_]),
// at most 64 characters. Malformed is BAD_ACTION, so no unchecked text ever
// reaches a native body.
func ParseOperator(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if len(s) > 64 {
		return "", fail(BadAction)
	}
	for _, name := range strings.Split(s, ",") {
		if name == "" || !isToken(name) {
			return "", fail(BadAction)
		}
	}
	return s, nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
