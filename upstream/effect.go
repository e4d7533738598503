package upstream

import (
	"errors"
	"net/http"
)

// Effect is what the error of a failed call tells about what its request
// did at the backend. It is the one answer to "did this purchase happen?":
// EffectOf computes it from the client's error types, and callers branch on
// it instead of on statuses.
//
// The zero value is EffectUnknown, so that an Effect nobody set never reads
// as "nothing happened".
type Effect uint8

const (
	// EffectUnknown: the request may have acted. An attempt may have reached
	// the backend and its answer is lost (a reset, a timeout, the caller's
	// context ending), it got a 5xx, it got a 2xx whose body is unreadable
	// (a purchase with that answer happened), or it got a 4xx after an
	// attempt of unknown effect. Also every error this package did not make.
	EffectUnknown Effect = iota
	// EffectNoneThisCall: this call certainly did nothing, because no
	// attempt reached the backend (a failed dial, DNS lookup or proxy
	// CONNECT, an open circuit breaker), or because the backend answered 429
	// rate_limit_exceeded, which it sends before it looks at the
	// Idempotency-Key. It says nothing of an earlier call with the same
	// Idempotency-Key: that one may have acted.
	EffectNoneThisCall
	// EffectNoneUnderKey: the backend answered a definite no, a non-2xx
	// below 500 other than 429 (400, 401, 402 insufficient_balance, 403,
	// 404, 409 out_of_stock, 422 ...; a 3xx too, since the backend never
	// redirects), and no attempt of the call had an unknown effect. Nothing
	// was done by this call, and, since the backend answers a repeated
	// Idempotency-Key with its first result, nothing exists under the
	// call's Idempotency-Key. A request refused without being sent (an
	// empty API key, a 401) counts here too.
	EffectNoneUnderKey
)

// String returns "unknown", "none_this_call" or "none_under_key", for logs
// and span attributes.
func (e Effect) String() string {
	switch e {
	case EffectNoneThisCall:
		return "none_this_call"
	case EffectNoneUnderKey:
		return "none_under_key"
	}
	return "unknown"
}

// EffectOf returns what err, the error of a call of this package, tells
// about the effect of the call's request. A nil err is not a failure (the
// call acted) and gives EffectUnknown, so that no caller reads a success as
// "nothing done". Wrapped errors are unwrapped.
//
// The two kinds of caller ask different questions of the same verdict:
//
//   - After a first call with a fresh Idempotency-Key (Buy with a key never
//     sent before), anything but EffectUnknown means nothing was bought: a
//     purchase journaled before the call may be released. EffectUnknown
//     keeps it pending for a replay.
//   - After a replay with the Idempotency-Key of an earlier call whose
//     outcome was lost, only EffectNoneUnderKey proves that no purchase
//     exists under the key, so that the journaled purchase may be voided.
//     EffectNoneThisCall (the replay never left, or got a 429) and
//     EffectUnknown say nothing of the earlier call: replay again later.
//
// Callers must not derive the same fact from HTTP statuses themselves.
func EffectOf(err error) Effect {
	if err == nil {
		return EffectUnknown
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusTooManyRequests:
			return EffectNoneThisCall
		case ae.Status < 500:
			return EffectNoneUnderKey
		}
		return EffectUnknown
	}
	// call reports NotSent only when no attempt of the call may have been
	// written; an open breaker is a NotSent *TransportError too.
	var te *TransportError
	if errors.As(err, &te) && te.NotSent {
		return EffectNoneThisCall
	}
	return EffectUnknown
}
