package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Ledger entry kinds.
const (
	KindPurchase = "purchase"
	KindRefund   = "refund"
)

// Entry is one movement of money in the sandbox.
type Entry struct {
	// Time is when the movement happened by the sandbox clock; for an expiry
	// refund it is the activation's expiresAt.
	Time time.Time
	// Key is the API key whose wallet moved. Tests may read it; never log it.
	Key string
	// Kind is KindPurchase (a debit) or KindRefund (a credit).
	Kind string
	// ActivationID is the activation bought or refunded.
	ActivationID string
	// Amount is the positive amount moved, a decimal string such as "0.50".
	Amount string
	// IdempotencyKey is the Idempotency-Key of the request that caused the
	// movement; "" for none and for expiry refunds.
	IdempotencyKey string
}

// Ledger is a snapshot of every movement of money and every balance, as
// (*Sandbox).Ledger returns it. It is a copy: changing it changes nothing in
// the sandbox.
type Ledger struct {
	// Entries are in the order they were made.
	Entries []Entry
	// Balances maps every API key to its balance, a decimal string.
	Balances map[string]string
	// Opened maps every key whose account Config.OpenPrefix opened to its
	// starting balance.
	Opened map[string]string
}

// Ledger returns a snapshot of the ledger, after expiring what is due.
func (s *Sandbox) Ledger() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(s.now())
	l := Ledger{Entries: slices.Clone(s.ledger), Balances: map[string]string{}, Opened: map[string]string{}}
	for k, b := range s.balances {
		l.Balances[k] = formatMoney(b)
	}
	for k, b := range s.opened {
		l.Opened[k] = formatMoney(b)
	}
	return l
}

// Purchases returns the purchase entries of key, in order.
func (l Ledger) Purchases(key string) []Entry { return l.filter(key, KindPurchase) }

// Refunds returns the refund entries of key, in order.
func (l Ledger) Refunds(key string) []Entry { return l.filter(key, KindRefund) }

// Balance returns the balance of key, or "" for a key the sandbox does not
// know.
func (l Ledger) Balance(key string) string { return l.Balances[key] }

func (l Ledger) filter(key, kind string) []Entry {
	var out []Entry
	for _, e := range l.Entries {
		if e.Key == key && e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// Check verifies the ledger against the starting balances (the
// Config.Keys the sandbox was made with, and those of the accounts it
// opened, l.Opened): every balance equals its initial
// amount minus purchases plus refunds and is not negative; every activation
// is bought once and refunded at most once, by the amount and key of its
// purchase; every amount is a positive decimal. It returns every problem
// found, joined; errors name keys by a hash, never by the key.
func (l Ledger) Check(initial map[string]string) error {
	var errs []error
	if len(l.Opened) > 0 {
		all := maps.Clone(l.Opened)
		maps.Copy(all, initial)
		initial = all
	}
	want := map[string]decimal.Decimal{}
	for k, v := range initial {
		d, err := decimal.NewFromString(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: initial balance %q: %w", keyLabel(k), v, err))
			continue
		}
		want[k] = d
	}
	bought := map[string]Entry{}
	refunded := map[string]bool{}
	for i, e := range l.Entries {
		amount, err := decimal.NewFromString(e.Amount)
		if err != nil || !amount.IsPositive() {
			errs = append(errs, fmt.Errorf("entry %d: amount %q is not a positive decimal", i, e.Amount))
			continue
		}
		if _, ok := want[e.Key]; !ok {
			errs = append(errs, fmt.Errorf("entry %d: %s has no initial balance", i, keyLabel(e.Key)))
			continue
		}
		switch e.Kind {
		case KindPurchase:
			if _, dup := bought[e.ActivationID]; dup {
				errs = append(errs, fmt.Errorf("entry %d: activation %s bought twice", i, e.ActivationID))
			}
			bought[e.ActivationID] = e
			want[e.Key] = want[e.Key].Sub(amount)
		case KindRefund:
			p, ok := bought[e.ActivationID]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("entry %d: refund of activation %s never bought", i, e.ActivationID))
			case refunded[e.ActivationID]:
				errs = append(errs, fmt.Errorf("entry %d: activation %s refunded twice", i, e.ActivationID))
			case p.Key != e.Key:
				errs = append(errs, fmt.Errorf("entry %d: activation %s refunded to another key", i, e.ActivationID))
			case p.Amount != e.Amount:
				errs = append(errs, fmt.Errorf("entry %d: activation %s bought for %s, refunded %s", i, e.ActivationID, p.Amount, e.Amount))
			}
			refunded[e.ActivationID] = true
			want[e.Key] = want[e.Key].Add(amount)
		default:
			errs = append(errs, fmt.Errorf("entry %d: unknown kind %q", i, e.Kind))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(l.Balances)) {
		if _, ok := initial[k]; !ok {
			errs = append(errs, fmt.Errorf("%s has a balance but no initial balance", keyLabel(k)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w := want[k]
		got, ok := l.Balances[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no balance", keyLabel(k)))
			continue
		}
		g, err := decimal.NewFromString(got)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: balance %q: %w", keyLabel(k), got, err))
			continue
		}
		if !g.Equal(w) {
			errs = append(errs, fmt.Errorf("%s: balance %s, want %s", keyLabel(k), got, formatMoney(w)))
		}
		if g.IsNegative() {
			errs = append(errs, fmt.Errorf("%s: balance %s is negative", keyLabel(k), got))
		}
	}
	return errors.Join(errs...)
}
