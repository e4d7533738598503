package translate

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// Code is a legacy answer code such as "NO_BALANCE".
type Code string

// The legacy codes the shim sends. The first eleven are the product page's;
// EarlyCancelDenied and WrongMaxPrice are codes of the original protocol that
// real clients know and that fit native errors the page does not cover.
const (
	BadKey            Code = "BAD_KEY"
	BadAction         Code = "BAD_ACTION"
	BadService        Code = "BAD_SERVICE"
	BadCountry        Code = "BAD_COUNTRY"
	BadStatus         Code = "BAD_STATUS"
	WrongAction       Code = "WRONG_ACTION"
	NoBalance         Code = "NO_BALANCE"
	NoNumbers         Code = "NO_NUMBERS"
	NoActivation      Code = "NO_ACTIVATION"
	RateLimited       Code = "RATE_LIMITED"
	ErrorSQL          Code = "ERROR_SQL"
	EarlyCancelDenied Code = "EARLY_CANCEL_DENIED"
	WrongMaxPrice     Code = "WRONG_MAX_PRICE"
	// WrongExceptionPhone answers a malformed phoneException list.
	WrongExceptionPhone Code = "WRONG_EXCEPTION_PHONE"
	// NoActivations and OperatorsNotFound are the original's two JSON
	// errors: {"status":"error","error":"<code>"}.
	NoActivations     Code = "NO_ACTIVATIONS"
	OperatorsNotFound Code = "OPERATORS_NOT_FOUND"
	// RequestIDConflict is the shim's own code for a requestId used again,
	// within its window, with other purchase parameters. No client reads it
	// as a number: it does not start with ACCESS_NUMBER, nor is it JSON.
	RequestIDConflict Code = "REQUEST_ID_CONFLICT"
)

// smsbulkStatus is the HTTP status of each code in ProfileSMSBulk, from
// SMSBulk's errors page; the two codes the page lacks get the nearest one.
var smsbulkStatus = map[Code]int{
	BadKey:              http.StatusUnauthorized,
	BadAction:           http.StatusBadRequest,
	BadService:          http.StatusBadRequest,
	BadCountry:          http.StatusBadRequest,
	BadStatus:           http.StatusBadRequest,
	WrongAction:         http.StatusBadRequest,
	WrongMaxPrice:       http.StatusBadRequest,
	WrongExceptionPhone: http.StatusBadRequest,
	NoActivations:       http.StatusNotFound,
	OperatorsNotFound:   http.StatusNotFound,
	NoBalance:           http.StatusPaymentRequired,
	NoNumbers:           http.StatusNotFound,
	NoActivation:        http.StatusNotFound,
	EarlyCancelDenied:   http.StatusConflict,
	RequestIDConflict:   http.StatusConflict,
	RateLimited:         http.StatusTooManyRequests,
	ErrorSQL:            http.StatusInternalServerError,
}

// Status is the HTTP status that an answer with code c carries in profile p:
// always 200 in ProfileSMSActivate, as the original service sent.
func (c Code) Status(p Profile) int {
	if p == ProfileSMSActivate {
		return http.StatusOK
	}
	if s, ok := smsbulkStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a legacy error answer. Validation returns it directly; Classify
// makes one from any other error.
type Error struct {
	// Code is the legacy code.
	Code Code
	// Arg, when not empty, is sent after the code and a colon
	// (WRONG_MAX_PRICE:<min>).
	Arg string
	// RetryAfter is sent as the Retry-After header (whole seconds, rounded
	// up) with RATE_LIMITED; 0 sends none.
	RetryAfter time.Duration
	// Err is the cause, for logs; it is never sent to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Err.Error()
	}
	return string(e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// Body is the exact legacy body of the error: the code, and ":" + Arg when
// Arg is set; for the JSON errors NO_ACTIVATIONS and OPERATORS_NOT_FOUND,
// {"status":"error","error":"<code>"}.
func (e *Error) Body() []byte {
	if e.Code == NoActivations || e.Code == OperatorsNotFound {
		return []byte(`{"status":"error","error":"` + string(e.Code) + `"}`)
	}
	if e.Arg == "" {
		return []byte(e.Code)
	}
	return []byte(string(e.Code) + ":" + e.Arg)
}

func fail(c Code) *Error { return &Error{Code: c} }

// Classify maps any error to the legacy error to send, by the one table of
// native errors: 401 BAD_KEY; 402 NO_BALANCE; 403 BAD_KEY (a disabled key or
// banned account; BANNED needs an end time the native API does not give);
// 404 NO_ACTIVATION; 409 out_of_stock NO_NUMBERS, invalid_state BAD_STATUS,
// early_cancel EARLY_CANCEL_DENIED; 422 unknown_service BAD_SERVICE,
// unknown_country BAD_COUNTRY, price_above_max WRONG_MAX_PRICE:<min> (or
// NO_NUMBERS when the minimum is unknown); 429 RATE_LIMITED with its wait;
// everything else, 5xx, transport failures, unreadable answers, deadlines
// and an ID map that cannot be reached (idmap.ErrUnavailable) included,
// ERROR_SQL; idmap.ErrRequestConflict REQUEST_ID_CONFLICT. known is false when err matched no row of the table
// (the caller logs those once). A *Error passes through unchanged.
func Classify(err error) (e *Error, known bool) {
	var le *Error
	if errors.As(err, &le) {
		return le, true
	}
	var api *upstream.APIError
	if errors.As(err, &api) {
		return classifyAPI(api, err)
	}
	if errors.Is(err, idmap.ErrRequestConflict) {
		return &Error{Code: RequestIDConflict, Err: err}, true
	}
	var te *upstream.TransportError
	if errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, idmap.ErrUnavailable) {
		return &Error{Code: ErrorSQL, Err: err}, true
	}
	return &Error{Code: ErrorSQL, Err: err}, false
}

func classifyAPI(api *upstream.APIError, err error) (*Error, bool) {
	code := strings.ToLower(api.Code)
	e := &Error{Code: ErrorSQL, Err: err}
	switch api.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Code = BadKey
	case http.StatusPaymentRequired:
		e.Code = NoBalance
	case http.StatusNotFound:
		e.Code = NoActivation
	case http.StatusConflict:
		switch code {
		case upstream.CodeOutOfStock:
			e.Code = NoNumbers
		case upstream.CodeInvalidState:
			e.Code = BadStatus
		case upstream.CodeEarlyCancel:
			e.Code = EarlyCancelDenied
		default:
			return e, false
		}
	case http.StatusUnprocessableEntity:
		switch code {
		case upstream.CodeUnknownService:
			e.Code = BadService
		case upstream.CodeUnknownCountry:
			e.Code = BadCountry
		case upstream.CodePriceAboveMax:
			e.Code = NoNumbers
			if api.MinPrice != "" && api.MinPrice.IsValid() {
				e.Code, e.Arg = WrongMaxPrice, string(api.MinPrice)
			}
		default:
			return e, false
		}
	case http.StatusTooManyRequests:
		e.Code, e.RetryAfter = RateLimited, api.RetryAfter
	default:
		// 5xx and anything else: the backend failed, or answered outside
		// the contract.
		return e, api.Status >= 500
	}
	return e, true
}
