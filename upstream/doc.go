// Package upstream is the typed client of the native SMSBulk JSON API
// (https://smsbulk.net/api/v1) and the one place that holds this project's
// [contract] about it: the parts SMSBulk does not publish.
// internal/contract/openapi.yaml writes the whole contract down; the tests of
// the client and of the sandbox backend in upstream/sandbox check every
// exchange against it (the binary does not carry it). A backend that
// differs changes this package only.
//
// It is not the legacy handler_api.php front end (package shim) and does no
// legacy mapping (package translate). It stores no API key: every call takes
// the caller's key and sends it as the x-api-key header, and no error text,
// panic or log line of this package carries it.
//
// # Contract
//
// The items below are [contract]: SMSBulk documents only the wallet balance,
// buying and polling an activation, the complete path, x-api-key, money as
// decimal strings and the rate-limit answer.
//
//   - Calls: POST /activations answers 201 (any 2xx is accepted);
//     POST /activations/{id}/ready, /retry, /complete and /cancel answer 200
//     with the activation; GET /activations?status=ACTIVE&limit=&cursor=
//     pages with nextCursor (null on the last page); GET /catalog/countries,
//     /catalog/services and /catalog/offers?countryIso=&serviceCode= wrap
//     their lists in {"countries"}, {"services"} and {"offers"}.
//   - Activation fields serviceCode, countryIso, smsText, createdAt and
//     expiresAt (RFC 3339); statuses RETRY_WAITING and COMPLETED.
//   - Native activation IDs are 1 to 64 characters of [A-Za-z0-9_-]. Any
//     other ID is refused with ErrInvalidID before a request is made.
//   - Errors: every non-2xx answer becomes an *APIError with the HTTP status
//     and the lower-cased "error" code: 400 validation_error, 401
//     unauthorized, 402 insufficient_balance, 403 forbidden, 404 not_found,
//     409 out_of_stock, invalid_state or early_cancel, 422 unknown_service,
//     unknown_country or price_above_max (the message carries the minimum
//     price, copied to MinPrice), 429 rate_limit_exceeded (documented), 5xx
//     internal. Classify by status first, then by code.
//   - Idempotency: every POST carries an Idempotency-Key, one per logical
//     call, the same on each retry; the backend answers a repeated key from
//     the same API key within 24 h with the first result. A backend that
//     ignores the header may sell twice when a purchase is retried.
//
// # Failures and retries
//
// A call that gets no usable answer (a dial error, a reset, a timeout, a 2xx
// body that is not the contract's JSON or is larger than
// Options.MaxBodyBytes, Options.MaxCatalogBodyBytes for the catalog calls)
// fails with a *TransportError; NotSent is true only for a failed dial, DNS
// lookup or proxy CONNECT. An empty API key, or one no header can carry,
// fails without a request as a 401 unauthorized *APIError, the answer the
// backend gives for an unknown key. Redirects are not followed (they would
// carry the key elsewhere); a 3xx is an *APIError.
//
// A call is retried, at most Options.Retries times, after a *TransportError
// (except an unreadable or oversized 2xx body, which the backend would send
// again) and after a 502, 503 or 504. GETs are safe to repeat and POSTs are
// made safe by their Idempotency-Key. A 500 is not retried (the backend
// failed on this very request), nor a 429 (its wait is usually hours), nor
// any other 4xx. Retries wait a jittered, doubling backoff, or the answer's
// Retry-After when that is longer, and give up instead of sleeping past the
// call's deadline. A NotSent *TransportError means that no attempt of the
// call was written. When an attempt of a POST got no answer or a 5xx and a
// retry then gets a 4xx (a 429, say, which the backend sends before it looks
// at the Idempotency-Key), the call fails with a *TransportError that does
// not wrap that *APIError: the first attempt may have acted.
//
// EffectOf turns any error of a call into the one verdict on what the call
// did: EffectUnknown (it may have acted), EffectNoneThisCall (it certainly
// did nothing, but says nothing of an earlier call with the same
// Idempotency-Key) or EffectNoneUnderKey (the backend said no: nothing
// exists under the key). Callers decide "did this purchase happen?" with it,
// never from statuses.
//
// A circuit breaker, shared by every call of a Client, stops sending after
// Options.BreakerThreshold failed attempts in a row (transport failures and
// 5xx; any other answer, 429 included, shows the backend is up; a 2xx body
// of a catalog call that is too large or not the contract's JSON fails that
// call only and counts neither way): for Options.BreakerCooldown every call
// fails at once with a NotSent *TransportError wrapping ErrCircuitOpen. Then one probe call at a time is
// let through; its success closes the breaker, its failure opens it again.
// Retries stop as soon as the breaker opens.
//
// Options.Timeout (Options.BuyTimeout for Buy) bounds the whole call,
// retries included, inside the caller's context. When the caller's context
// is done the call returns ctx.Err() itself; when only the call's own timeout
// ran out it returns a *TransportError for which
// errors.Is(err, context.DeadlineExceeded) holds.
package upstream
