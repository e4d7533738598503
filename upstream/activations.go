package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ErrInvalidID is returned, wrapped, without any request when a native
// activation ID is not 1 to 64 characters of [A-Za-z0-9_-].
var ErrInvalidID = errors.New("invalid native activation id")

// Buy buys a number (POST /activations); the wallet is charged at once. The
// answer is the new activation, status WAITING.
//
// idemKey is sent as Idempotency-Key, unchanged on every retry of this call;
// "" makes a new one. A caller that may have to replay the purchase later
// (after a crash, say) passes its own stored key, so that the backend answers
// with the first purchase instead of selling a second number. An invalid
// req.MaxPrice is an error without a request.
func (c *Client) Buy(ctx context.Context, apiKey string, req BuyRequest, idemKey string) (Activation, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Activation{}, fmt.Errorf("upstream buy: encoding request: %w", err)
	}
	if idemKey == "" {
		idemKey = c.newKey()
	}
	r := &request{
		op:      "buy",
		method:  http.MethodPost,
		path:    "/activations",
		body:    body,
		idemKey: idemKey,
		timeout: c.buyTimeout,
	}
	return call(ctx, c, apiKey, r, validActivation)
}

// Activation polls one activation (GET /activations/{id}). Once an SMS
// arrived, its status is RECEIVED and SMSCode holds the code.
func (c *Client) Activation(ctx context.Context, apiKey, id string) (Activation, error) {
	return c.activationCall(ctx, apiKey, "activation", http.MethodGet, id, "")
}

// Ready reports that the SMS was requested on the number
// (POST /activations/{id}/ready).
func (c *Client) Ready(ctx context.Context, apiKey, id string) (Activation, error) {
	return c.activationCall(ctx, apiKey, "ready", http.MethodPost, id, "/ready")
}

// Retry asks for another SMS (POST /activations/{id}/retry); the answer has
// status RETRY_WAITING and SMSCode still holds the last code.
func (c *Client) Retry(ctx context.Context, apiKey, id string) (Activation, error) {
	return c.activationCall(ctx, apiKey, "retry", http.MethodPost, id, "/retry")
}

// Complete finishes an activation (POST /activations/{id}/complete); the
// answer has status COMPLETED.
func (c *Client) Complete(ctx context.Context, apiKey, id string) (Activation, error) {
	return c.activationCall(ctx, apiKey, "complete", http.MethodPost, id, "/complete")
}

// Cancel cancels an activation (POST /activations/{id}/cancel); the answer
// has status CANCELLED. Before any SMS the charge is refunded in full.
func (c *Client) Cancel(ctx context.Context, apiKey, id string) (Activation, error) {
	return c.activationCall(ctx, apiKey, "cancel", http.MethodPost, id, "/cancel")
}

// activationCall is GET /activations/{id} or POST /activations/{id}{action},
// each POST with its own Idempotency-Key.
func (c *Client) activationCall(ctx context.Context, apiKey, op, method, id, action string) (Activation, error) {
	if !ValidID(id) {
		return Activation{}, fmt.Errorf("upstream %s: %w", op, ErrInvalidID)
	}
	r := &request{
		op:      op,
		method:  method,
		path:    "/activations/" + url.PathEscape(id) + action,
		timeout: c.timeout,
	}
	if method == http.MethodPost {
		r.idemKey = c.newKey()
	}
	return call(ctx, c, apiKey, r, validActivation)
}

// MaxListLimit is the largest page ListActive asks for, the contract's
// maximum.
const MaxListLimit = 1000

// ListActive returns one page of the key's active activations
// (GET /activations?status=ACTIVE), oldest first. cursor "" asks for the
// first page, else it is the NextCursor of the page before; limit <= 0 lets
// the backend choose (100 by contract), and a limit above MaxListLimit asks
// for MaxListLimit. To list them all, call again with *NextCursor until it
// is nil; an activation that ends meanwhile may be left out, one bought
// meanwhile comes on a later page. A page whose NextCursor is "" is not the
// contract's (it would lead back to the first page) and fails as an
// unusable body.
func (c *Client) ListActive(ctx context.Context, apiKey, cursor string, limit int) (ActivationList, error) {
	q := url.Values{"status": {"ACTIVE"}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(min(limit, MaxListLimit)))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	r := &request{op: "list_active", method: http.MethodGet, path: "/activations", query: q, timeout: c.timeout}
	return call(ctx, c, apiKey, r, func(l *ActivationList) error {
		if l.Activations == nil {
			return errors.New("activations missing")
		}
		if l.NextCursor != nil && *l.NextCursor == "" {
			return errors.New("next cursor empty")
		}
		for i := range l.Activations {
			if err := validActivation(&l.Activations[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ValidID reports whether id can be a native activation ID: 1 to 64
// characters of [A-Za-z0-9_-].
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validActivation rejects an answer that cannot be an activation.
func validActivation(a *Activation) error {
	switch {
	case !ValidID(a.ID):
		return errors.New("activation id missing or invalid")
	case a.Status == "":
		return errors.New("activation status missing")
	}
	return nil
}
