package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Decimal is an amount of money as the native API writes it: a decimal string
// such as "10.00". It is never converted to a float. UnmarshalJSON accepts a
// JSON string or a JSON number (the email domain list sends "price":0.04) and
// keeps the digits exactly as sent; MarshalJSON always writes a JSON string.
// The zero value "" means "absent".
type Decimal string

// IsValid reports whether d is a plain decimal: an optional minus sign, one or
// more digits, and optionally a dot followed by one or more digits. Exponents,
// "+", spaces, "NaN" and "Inf" are not valid.
func (d Decimal) IsValid() bool {
	s := string(d)
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// MarshalJSON writes d as a JSON string.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if !d.IsValid() {
		return nil, fmt.Errorf("upstream: invalid decimal %q", string(d))
	}
	return json.Marshal(string(d))
}

// UnmarshalJSON reads a JSON string or number holding a plain decimal, without
// passing it through float64.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("upstream: decimal: %w", err)
		}
	} else {
		s = string(b)
	}
	v := Decimal(s)
	if !v.IsValid() {
		return fmt.Errorf("upstream: invalid decimal %q", s)
	}
	*d = v
	return nil
}

// Status is the state of a native activation.
type Status string

// The native activation states. WAITING and RECEIVED are documented by
// SMSBulk; CANCELLED, EXPIRED and REFUNDED end an activation without an SMS;
// RETRY_WAITING and COMPLETED are fixed by this project's contract.
const (
	StatusWaiting      Status = "WAITING"
	StatusReceived     Status = "RECEIVED"
	StatusRetryWaiting Status = "RETRY_WAITING"
	StatusCompleted    Status = "COMPLETED"
	StatusCancelled    Status = "CANCELLED"
	StatusExpired      Status = "EXPIRED"
	StatusRefunded     Status = "REFUNDED"
)

// Refunded reports whether an activation in status s has ended and given
// its money back: CANCELLED, EXPIRED or REFUNDED.
func (s Status) Refunded() bool {
	return s == StatusCancelled || s == StatusExpired || s == StatusRefunded
}

// Balance is the answer of GET /wallet/balance.
type Balance struct {
	Balance  Decimal `json:"balance"`
	Currency string  `json:"currency"`
}

// BuyRequest is the body of POST /activations. MaxPrice and Operator are
// optional: empty means not sent.
type BuyRequest struct {
	ServiceCode string  `json:"serviceCode"`
	CountryISO  string  `json:"countryIso"`
	MaxPrice    Decimal `json:"maxPrice,omitempty"`
	Operator    string  `json:"operator,omitempty"`
}

// Activation is one native activation. SMSCode and SMSText are nil until an
// SMS arrives; after a retry SMSCode still holds the last code.
type Activation struct {
	ID          string    `json:"id"`
	PhoneNumber string    `json:"phoneNumber"`
	Status      Status    `json:"status"`
	UserCost    Decimal   `json:"userCost"`
	ServiceCode string    `json:"serviceCode"`
	CountryISO  string    `json:"countryIso"`
	SMSCode     *string   `json:"smsCode"`
	SMSText     *string   `json:"smsText"`
	CreatedAt   time.Time `json:"createdAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// ActivationList is one page of GET /activations. NextCursor is nil on the
// last page.
type ActivationList struct {
	Activations []Activation `json:"activations"`
	NextCursor  *string      `json:"nextCursor"`
}

// Country is one entry of GET /catalog/countries.
type Country struct {
	ISO  string `json:"iso"`
	Name string `json:"name"`
}

// Service is one entry of GET /catalog/services.
type Service struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Offer is one entry of GET /catalog/offers: the price and stock of one
// service in one country.
type Offer struct {
	CountryISO  string  `json:"countryIso"`
	ServiceCode string  `json:"serviceCode"`
	Price       Decimal `json:"price"`
	Stock       int64   `json:"stock"`
}

// OfferFilter narrows GET /catalog/offers. Empty fields are not sent.
type OfferFilter struct {
	CountryISO  string
	ServiceCode string
}

// ErrorBody is the JSON body of every non-2xx native answer:
// {"error":"<snake_code>","message":"..."}. RetryAfter, Limit and Usage are
// only sent with rate_limit_exceeded.
type ErrorBody struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	RetryAfter int64  `json:"retryAfter,omitempty"`
	Limit      int64  `json:"limit,omitempty"`
	Usage      int64  `json:"usage,omitempty"`
}

// The native error codes of the contract (the "error" field, compared
// case-insensitively).
const (
	CodeValidation        = "validation_error"
	CodeUnauthorized      = "unauthorized"
	CodeInsufficient      = "insufficient_balance"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found"
	CodeOutOfStock        = "out_of_stock"
	CodeInvalidState      = "invalid_state"
	CodeEarlyCancel       = "early_cancel"
	CodeUnknownService    = "unknown_service"
	CodeUnknownCountry    = "unknown_country"
	CodePriceAboveMax     = "price_above_max"
	CodeRateLimitExceeded = "rate_limit_exceeded"
	CodeInternal          = "internal"
)
