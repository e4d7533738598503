package upstream

import (
	"context"
	"errors"
	"net/http"
)

// Balance returns the wallet balance of the key's owner (GET /wallet/balance).
// The amount is the decimal string the backend sent, unchanged.
func (c *Client) Balance(ctx context.Context, apiKey string) (Balance, error) {
	r := &request{op: "balance", method: http.MethodGet, path: "/wallet/balance", timeout: c.timeout}
	return call(ctx, c, apiKey, r, func(b *Balance) error {
		if b.Balance == "" {
			return errors.New("balance missing")
		}
		return nil
	})
}
