package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// ParseKeys reads a SANDBOX_KEYS value: comma-separated KEY=BALANCE entries
// such as "demo=100.00,broke=0.00". Spaces around entries, keys and balances
// are ignored; an empty or blank s gives an empty map (New then uses its
// default). A key must not be empty or contain spaces; a balance is a plain
// non-negative decimal. Errors name entries by position, never by key.
func ParseKeys(s string) (map[string]string, error) {
	keys := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return keys, nil
	}
	for i, entry := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(entry, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("parsing keys: entry %d: missing '='", i+1)
		}
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("parsing keys: entry %d: %w", i+1, err)
		}
		if _, err := parseBalance(v); err != nil {
			return nil, fmt.Errorf("parsing keys: entry %d: %w", i+1, err)
		}
		if _, dup := keys[k]; dup {
			return nil, fmt.Errorf("parsing keys: entry %d: key repeated", i+1)
		}
		keys[k] = v
	}
	return keys, nil
}

// checkKey rejects keys that cannot be sent in a header.
func checkKey(k string) error {
	if k == "" {
		return fmt.Errorf("empty key")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("key has a space or control character")
		}
	}
	return nil
}

// parseBalance reads a non-negative plain decimal.
func parseBalance(v string) (decimal.Decimal, error) {
	if !upstream.Decimal(v).IsValid() {
		return decimal.Decimal{}, fmt.Errorf("balance %q is not a plain decimal", v)
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("parsing balance %q: %w", v, err)
	}
	if d.IsNegative() {
		return decimal.Decimal{}, fmt.Errorf("balance %q is negative", v)
	}
	return d, nil
}

// formatMoney writes d with at least two decimal places: 100 -> "100.00".
func formatMoney(d decimal.Decimal) string {
	return d.StringFixed(max(2, -d.Exponent()))
}

// keyLabel names an API key in error text without revealing it.
func keyLabel(k string) string {
	sum := sha256.Sum256([]byte(k))
	return "key sha256:" + hex.EncodeToString(sum[:4])
}
