package translate

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// legacyTime is how the original wrote times: "2022-06-01 17:30:57". The
// shim writes them in UTC.
const legacyTime = "2006-01-02 15:04:05"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(legacyTime)
}

// money is a price as the JSON answers write it inside a string: at least
// two decimals ("0.5" -> "0.50"), never rounded.
func money(d upstream.Decimal) (string, error) {
	v, err := decimal.NewFromString(string(d))
	if err != nil || !d.IsValid() {
		return "", badAnswer("price %q", string(d))
	}
	return v.StringFixed(max(2, -v.Exponent())), nil
}

// phoneAndCost are an activation's phone number and cost as the JSON
// answers write them.
func phoneAndCost(a upstream.Activation) (phone, cost string, err error) {
	if phone, err = digits(a.PhoneNumber); err != nil {
		return "", "", err
	}
	cost, err = money(a.UserCost)
	return phone, cost, err
}

// currencies are the ISO 4217 numbers of the wallet currencies an SMSBulk
// account may hold, for getNumberV2's "currency".
var currencies = map[string]int{"USD": 840, "EUR": 978, "RUB": 643, "GBP": 826, "CNY": 156, "INR": 356, "TRY": 949, "UAH": 980, "KZT": 398}

// CurrencyNumber is the ISO 4217 number of a currency code ("USD" -> 840),
// or 0 when the shim does not know it.
func CurrencyNumber(code string) int { return currencies[code] }

// NumberV2 is what getNumberV2's answer says besides the activation.
type NumberV2 struct {
	LegacyID int64
	// CountryID is the legacy country ID the request named (or the
	// default).
	CountryID int
	// Operator is the operator asked for; "" is "any".
	Operator string
	// Currency is the wallet's ISO 4217 number; 0 leaves it out.
	Currency int
}

// NumberV2Body is getNumberV2's answer, with the types every known client
// reads (legacy-protocol.md section 6): every field a JSON string except
// canGetAnotherSms (a boolean) and currency (a number, left out when
// unknown):
// {"activationId":"100000001","phoneNumber":"905551234567","activationCost":"0.50","currency":840,
// "countryCode":"62","canGetAnotherSms":true,"activationTime":"2026-12-01 19:30:57",
// "activationEndTime":"2026-12-01 19:50:57","activationOperator":"any"}.
func NumberV2Body(n NumberV2, a upstream.Activation) ([]byte, error) {
	phone, cost, err := phoneAndCost(a)
	if err != nil {
		return nil, err
	}
	op := n.Operator
	if op == "" {
		op = "any"
	}
	var cur *int
	if n.Currency != 0 {
		cur = &n.Currency
	}
	return json.Marshal(struct {
		ID       string `json:"activationId"`
		Phone    string `json:"phoneNumber"`
		Cost     string `json:"activationCost"`
		Currency *int   `json:"currency,omitempty"`
		Country  string `json:"countryCode"`
		Another  bool   `json:"canGetAnotherSms"`
		Time     string `json:"activationTime"`
		EndTime  string `json:"activationEndTime,omitempty"`
		Operator string `json:"activationOperator"`
	}{
		ID: strconv.FormatInt(n.LegacyID, 10), Phone: phone, Cost: cost, Currency: cur,
		Country: strconv.Itoa(n.CountryID), Another: true,
		Time: formatTime(a.CreatedAt), EndTime: formatTime(a.ExpiresAt), Operator: op,
	})
}

// StatusV2Body is getStatusV2's answer: {"verificationType":0,"sms":
// {"code":"123456","text":"..."},"call":null} once a code came (sms is
// null while waiting, and after setStatus 3 until the next code), and the
// text STATUS_CANCEL for an activation that ended without one. The native
// API gives no time of arrival, so the sms object has no dateTime.
func StatusV2Body(a upstream.Activation) ([]byte, error) {
	if _, err := StatusBody(a); err != nil {
		return nil, err // an unknown status
	}
	code := smsCode(a.SMSCode)
	if a.Status.Refunded() && code == "" {
		return []byte("STATUS_CANCEL"), nil
	}
	type sms struct {
		Code string `json:"code"`
		Text string `json:"text"`
	}
	var m *sms
	if code != "" && a.Status != upstream.StatusWaiting && a.Status != upstream.StatusRetryWaiting {
		m = &sms{Code: code, Text: smsText(a)}
	}
	return json.Marshal(struct {
		Type int       `json:"verificationType"`
		SMS  *sms      `json:"sms"`
		Call *struct{} `json:"call"`
	}{SMS: m})
}

// smsText is the text of the last SMS, or its code when the backend sent
// no text.
func smsText(a upstream.Activation) string {
	if a.SMSText != nil && *a.SMSText != "" {
		return *a.SMSText
	}
	return smsCode(a.SMSCode)
}

// FullSMSBody is getFullSms's answer: FULL_SMS:<text> once a code came,
// STATUS_WAIT_CODE while waiting (after setStatus 3 too, until the next
// code), STATUS_CANCEL for an activation that ended without one.
func FullSMSBody(a upstream.Activation) ([]byte, error) {
	body, err := StatusBody(a)
	if err != nil {
		return nil, err
	}
	switch {
	case string(body) == "STATUS_CANCEL":
		return body, nil
	case a.Status == upstream.StatusWaiting, a.Status == upstream.StatusRetryWaiting, smsCode(a.SMSCode) == "":
		return []byte("STATUS_WAIT_CODE"), nil
	}
	return []byte("FULL_SMS:" + smsText(a)), nil
}

// ActiveActivation is one activation of getActiveActivations: the native
// activation and what the legacy answer names it by.
type ActiveActivation struct {
	LegacyID    int64
	CountryID   int
	CountryName string
	upstream.Activation
}

// activationStatus is the original's activationStatus of an active
// activation: "1" waiting for the SMS, "3" waiting for another after
// setStatus 3, "4" code received.
func activationStatus(st upstream.Status) string {
	switch st {
	case upstream.StatusRetryWaiting:
		return "3"
	case upstream.StatusReceived:
		return "4"
	}
	return "1"
}

// activeRow is one activation of the list answers: every value a JSON
// string, smsCode and smsText a string or null (never an array), as the Go
// and C# clients decode them.
type activeRow struct {
	ID          string  `json:"activationId"`
	Service     string  `json:"serviceCode"`
	Phone       string  `json:"phoneNumber"`
	Cost        string  `json:"activationCost"`
	Status      string  `json:"activationStatus"`
	SMSCode     *string `json:"smsCode"`
	SMSText     *string `json:"smsText"`
	Time        string  `json:"activationTime"`
	Discount    string  `json:"discount"`
	Repeated    string  `json:"repeated"`
	CountryCode string  `json:"countryCode"`
	CountryName string  `json:"countryName"`
	Another     string  `json:"canGetAnotherSms"`
}

func activeRows(list []ActiveActivation) ([]activeRow, error) {
	rows := make([]activeRow, 0, len(list))
	for _, a := range list {
		phone, cost, err := phoneAndCost(a.Activation)
		if err != nil {
			return nil, err
		}
		var code, text *string
		if c := smsCode(a.SMSCode); c != "" {
			t := smsText(a.Activation)
			code, text = &c, &t
		}
		repeated := "0"
		if a.Status == upstream.StatusRetryWaiting {
			repeated = "1"
		}
		rows = append(rows, activeRow{
			ID: strconv.FormatInt(a.LegacyID, 10), Service: a.ServiceCode, Phone: phone, Cost: cost,
			Status: activationStatus(a.Status), SMSCode: code, SMSText: text, Time: formatTime(a.CreatedAt),
			Discount: "0.00", Repeated: repeated, CountryCode: strconv.Itoa(a.CountryID), CountryName: a.CountryName,
			Another: "1",
		})
	}
	return rows, nil
}

// ActiveActivationsBody is getActiveActivations's answer:
// {"status":"success","activeActivations":[{13 string fields}],"data":[the
// same]}: the original's key, which the Go clients read, and "data", which
// hero-sms reads. None is
// exactly {"status":"error","error":"NO_ACTIVATIONS"} (as an error) when
// there are none.
func ActiveActivationsBody(list []ActiveActivation) ([]byte, error) {
	if len(list) == 0 {
		return nil, fail(NoActivations)
	}
	rows, err := activeRows(list)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Status string      `json:"status"`
		List   []activeRow `json:"activeActivations"`
		Data   []activeRow `json:"data"`
	}{"success", rows, rows})
}

// ActivationListBody is getListOfActiveActivations's answer, the page that
// the official Java client reads: {"status":"success","data":[...],
// "existNext":<bool>,"quant":<all>}, the rows as in ActiveActivationsBody,
// from start (0 first) and at most length of them (0: all).
func ActivationListBody(list []ActiveActivation, start, length int) ([]byte, error) {
	all := len(list)
	list = list[min(start, all):]
	if length > 0 && len(list) > length {
		list = list[:length]
	}
	rows, err := activeRows(list)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Status    string      `json:"status"`
		Data      []activeRow `json:"data"`
		ExistNext bool        `json:"existNext"`
		Quant     int         `json:"quant"`
	}{"success", rows, min(start, all)+len(rows) < all, all})
}

// ParsePage reads getListOfActiveActivations's start and length: "" is 0;
// otherwise a decimal from 0 to 100000. Anything else is BAD_ACTION.
func ParsePage(start, length string) (int, int, error) {
	parse := func(s string) (int, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 100000 {
			return 0, fail(BadAction)
		}
		return n, nil
	}
	a, err := parse(start)
	if err != nil {
		return 0, 0, err
	}
	b, err := parse(length)
	return a, b, err
}
