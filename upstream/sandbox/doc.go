// Package sandbox is an in-process SMSBulk backend: an http.Handler that
// serves the whole native contract of
// upstream/internal/contract/openapi.yaml under /api/v1, with its state in
// memory, so that the shim can be run, tested and benchmarked with no
// network and no real money. It is not a model of how SMSBulk works inside
// and must never face the internet: API keys are plain map keys, and the
// ledger that tests read holds them.
//
// # Catalog
//
// Countries and services come from CSV files embedded from data/ (copies of
// the project's reference tables). Every country with an ISO code is sold; a
// duplicated ISO code takes the name of its last row (US is "USA", not "USA
// (virtual)"), and a row without an English name is named after its slug
// (GI "Gibraltar", XK "Kosovo", NU "Niue"). Every country x service pair has
// one offer whose price (0.10 to 2.50) and starting stock (1 to 5000) are a
// hash of the pair, so they are the same in every run. Fixed exceptions:
//
//   - wa and tg in RU, US, TR, GB and ID cost "0.50" with stock 10000;
//   - tg in NU (Niue) has stock 0: buying it answers 409 out_of_stock, which
//     the shim turns into NO_NUMBERS.
//
// Stock counts the numbers free now: a purchase takes one and the end of the
// activation (COMPLETED, CANCELLED or EXPIRED) puts it back, so only
// activations open at the same time use stock up.
//
// # Activations
//
// Time comes from Config.Now and states are computed from it when an
// activation is touched (no goroutine per activation). A purchase debits the
// price at once; SMSDelay later an SMS with a 6-digit code arrives (WAITING
// -> RECEIVED). ready leaves the status as it is (allowed in WAITING,
// RECEIVED and RETRY_WAITING); retry (RECEIVED, or RETRY_WAITING where it
// does nothing) asks for a new code, which arrives SMSDelay later; complete
// (RECEIVED, RETRY_WAITING) ends it as COMPLETED; cancel (WAITING only)
// ends it as CANCELLED with a full refund. At expiresAt (TTL after purchase)
// an activation still WAITING becomes EXPIRED and is refunded, and one that
// got a code becomes COMPLETED (the charge is final). An SMS due at or after
// expiresAt never arrives, so SMSDelay >= TTL makes every activation expire.
// Each request and each Ledger call first expires what is due, so refunds show
// in the balance without polling the activation. An activation is visible to
// the key that bought it only; any other key gets 404 not_found.
//
// # Idempotency
//
// A POST with an Idempotency-Key header (1 to 255 characters) is done once
// per API key and Idempotency-Key within 24 hours: a repeat gets the first
// answer again, status and body, with the header Idempotent-Replayed: true,
// and does not act again. Duplicates that arrive together are serialised: the
// second waits for the first. A repeat whose method, path or body differs
// from the first gets 400 validation_error. Answers produced by a fault that
// stops before acting (status=, reset) and 401/429 answers are not stored, so
// a retry acts.
//
// # Rate limit
//
// With Config.RateLimit > 0 each API key may make RateLimit requests per
// fixed window of RateWindow, starting at its first request. Every
// authenticated answer then carries X-RateLimit-Limit, X-RateLimit-Remaining
// and X-RateLimit-Reset (Unix seconds); a request over the limit gets 429
// rate_limit_exceeded with Retry-After (seconds, at least 1) and does not
// count.
//
// # Faults
//
// A fault spec is a comma-separated list of
//
//	latency=D           wait D (a Go duration) first, then act normally
//	status=N            answer N (400..599) with {"error":"internal",...} without acting
//	reset               close the connection (TCP RST) before acting
//	reset-after-commit  act and commit, then close the connection with no answer
//	bad-json            act and commit, then answer 200 with a body that is not JSON
//
// It comes from the X-Sandbox-Fault request header (an invalid spec gets 400
// validation_error), from InjectFault, and from Config.Fault for a fraction
// Config.FaultRate of requests; all that apply to a request are merged (the
// longest latency, the first status). reset wins over status, and
// reset-after-commit over bad-json. Faults apply after authentication and
// the rate limit. Closing a connection needs a ResponseWriter that can be
// hijacked; otherwise the handler panics with http.ErrAbortHandler, which
// net/http turns into an aborted response.
//
// Go's http.Transport silently sends a request again, once, when a reused
// connection breaks before any answer and the request is a GET or carries an
// Idempotency-Key. Tests that expect the client to see a reset must disable
// keep-alives or allow for that second request.
package sandbox
