package translate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// ErrBadAnswer is wrapped by every error about a native answer that cannot
// be put into legacy bytes (a balance that is not a decimal, a phone number
// with letters, an unknown status); Classify sends ERROR_SQL for it.
var ErrBadAnswer = errors.New("native answer outside the contract")

func badAnswer(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadAnswer}, args...)...)
}

// BalanceBody is getBalance's answer: "ACCESS_BALANCE:" and the balance with
// exactly two decimals, cut and never rounded up ("42.5" -> "42.50",
// "42.509" -> "42.50", "-0.001" -> "-0.01"). The arithmetic is decimal.
func BalanceBody(b upstream.Balance) ([]byte, error) {
	s, err := cut2(b.Balance)
	if err != nil {
		return nil, err
	}
	return append([]byte("ACCESS_BALANCE:"), s...), nil
}

func cut2(d upstream.Decimal) (string, error) {
	if !d.IsValid() {
		return "", badAnswer("balance %q", string(d))
	}
	// Fast path: the usual "42.50" is already in shape.
	s := string(d)
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i == 3 && s[0] != '-' {
		return s, nil
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		return "", badAnswer("balance %q: %v", s, err)
	}
	return v.RoundFloor(2).StringFixed(2), nil
}

// NumberBody is getNumber's answer: "ACCESS_NUMBER:<legacyID>:<digits>",
// the phone number in international form without "+" or separators.
func NumberBody(legacyID int64, a upstream.Activation) ([]byte, error) {
	phone, err := digits(a.PhoneNumber)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 14+20+1+len(phone))
	b = append(b, "ACCESS_NUMBER:"...)
	b = strconv.AppendInt(b, legacyID, 10)
	b = append(b, ':')
	return append(b, phone...), nil
}

// digits keeps the digits of a phone number, dropping one leading "+" and
// the separators people write (space, hyphen, dot, parentheses). Any other
// character, or fewer than 5 or more than 20 digits, is ErrBadAnswer.
func digits(phone string) (string, error) {
	var b strings.Builder
	for i, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return "", badAnswer("phone number %q", phone)
		}
	}
	if n := b.Len(); n < 5 || n > 20 {
		return "", badAnswer("phone number %q", phone)
	}
	return b.String(), nil
}

// StatusBody is getStatus's answer for a native activation:
// WAITING -> STATUS_WAIT_CODE; RECEIVED and COMPLETED -> STATUS_OK:<code>;
// RETRY_WAITING -> STATUS_WAIT_RETRY:<last code>; CANCELLED, EXPIRED and
// REFUNDED -> STATUS_CANCEL, except that an activation that ended after a
// code came keeps STATUS_OK:<code>. A state that calls for a code and has
// none waits (STATUS_WAIT_CODE). An unknown status is ErrBadAnswer.
//
// The answers without a code are shared slices, the same on every call:
// callers must not modify what StatusBody returns.
func StatusBody(a upstream.Activation) ([]byte, error) {
	code := smsCode(a.SMSCode)
	switch a.Status {
	case upstream.StatusWaiting:
		return statusWaitCode, nil
	case upstream.StatusReceived, upstream.StatusCompleted:
		if code == "" {
			return statusWaitCode, nil
		}
		return []byte("STATUS_OK:" + code), nil
	case upstream.StatusRetryWaiting:
		if code == "" {
			return statusWaitCode, nil
		}
		return []byte("STATUS_WAIT_RETRY:" + code), nil
	case upstream.StatusCancelled, upstream.StatusExpired, upstream.StatusRefunded:
		if code != "" {
			return []byte("STATUS_OK:" + code), nil
		}
		return statusCancel, nil
	}
	return nil, badAnswer("activation status %q", string(a.Status))
}

// The fixed answers of StatusBody, the hot path's commonest.
var (
	statusWaitCode = []byte("STATUS_WAIT_CODE")
	statusCancel   = []byte("STATUS_CANCEL")
)

// smsCode is the code as a bot can split it: white space, control
// characters and colons dropped, since clients split the answer on ":" and
// compare the tail.
func smsCode(c *string) string {
	if c == nil {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r == ':' || r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || r == 0x2028 || r == 0x2029 {
			return -1
		}
		return r
	}, *c)
}
